"""The scorer's HTTP side: the FastAPI app, its routes, request/response schemas, body limit,
dependencies and the ``/v1/stats`` document.

``app.create_app`` registers the routers of ``routes_scoring``, ``routes_alerts`` and
``routes_ops``; the lifespan starts the stream worker (:mod:`rtad.scorer.worker.runner`).
"""
