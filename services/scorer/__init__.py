"""The model-serving service (``rtad serve``): an HTTP API and a Redis Streams scoring worker.

- :mod:`rtad.scorer.api` — the FastAPI app, its routes and schemas;
- :mod:`rtad.scorer.worker` — the consumer-group loop that scores and commits batches;
- at the root, what both use: settings, metrics, the model holder, scoring, the latency bins,
  the Redis counters behind ``/v1/stats``, the ``rtad serve`` command and the live page.
"""
