"""The scorer's stream side: consumer group ``scorer`` on the feature streams → scores, alerts.

``loop`` (the batch loop), ``feature_reader`` (XREADGROUP/XAUTOCLAIM, replies unparsed),
``prefetch`` (the next read while a batch is scored), ``decode`` and ``decode_packed`` (raw
entries → heads and X, dead letters), ``batch`` (one batch → per-shard writes),
``commit_script`` (one atomic Lua script a shard, ownership checked), ``commit_thread``
(commits one batch behind), ``maintenance`` (trimming, consumer clean-up), ``group_gauges``
(lag and pending, exported by one replica), ``drift``, ``faults`` (crash-test injection) and
``runner`` (the worker's thread inside ``rtad serve``).

    python -m rtad.scorer.worker      # a worker without the HTTP API (settings from RTAD_*)
"""
