"""``python -m rtad.scorer.worker``: one worker process without the HTTP API."""

from rtad.scorer.worker.loop import main

main()
