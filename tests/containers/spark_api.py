"""The running job's executors, from the Spark driver's REST API (its UI port)."""

from __future__ import annotations

import json

from tests.containers.deployment import Deployment


def driver_ui(deployment: Deployment) -> tuple[str, int]:
    (run,) = deployment.cluster.pods["rtad-spark-driver-0"]
    return run.ip, run.port("spark-ui")


def active_executors(deployment: Deployment) -> int:
    """Executors (not the driver) the application holds right now."""
    host, port = driver_ui(deployment)
    status, body = deployment.network.http_get(port, "/api/v1/applications", 10, host)
    if status != 200:
        return -1
    (application,) = json.loads(body)
    path = f"/api/v1/applications/{application['id']}/executors"
    status, body = deployment.network.http_get(port, path, 10, host)
    if status != 200:
        return -1
    executors = json.loads(body)
    return sum(1 for e in executors if e["id"] != "driver" and e.get("isActive", True))
