"""What the Spark master's ``/json/`` status says about the running job (pure parsing).

The master lists its workers (``state``, ``cores``, ``coresused``) and its active
applications (``name``, ``state``, ``cores`` granted). The chart runs one executor per worker
taking all its cores, so the job's executors are its granted cores over a worker's cores.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

#: spark.app.name of ``rtad stream`` (rtad.streaming.session).
APP_NAME = "rtad-stream"


@dataclass(frozen=True)
class MasterStatus:
    """The master's view of the cluster and of one application."""

    alive_workers: int
    app_state: str | None  # None: no active application of that name
    app_cores: int

    def executors(self, cores_per_executor: int) -> int:
        """Executors of the application: the cores granted to it, one executor's worth each."""
        if cores_per_executor < 1:
            raise ValueError(f"cores_per_executor must be >= 1, not {cores_per_executor}")
        return self.app_cores // cores_per_executor if self.app_state == "RUNNING" else 0


def parse_master_status(payload: Mapping[str, Any], app_name: str = APP_NAME) -> MasterStatus:
    """The status of ``app_name`` and the alive workers, from the master's ``/json/``."""
    workers = payload.get("workers") or []
    alive = sum(1 for w in workers if w.get("state") == "ALIVE")
    apps = [a for a in payload.get("activeapps") or [] if a.get("name") == app_name]
    if not apps:
        return MasterStatus(alive_workers=alive, app_state=None, app_cores=0)
    app = max(apps, key=lambda a: int(a.get("starttime", 0)))  # the newest, after a restart
    return MasterStatus(
        alive_workers=alive, app_state=str(app.get("state")), app_cores=int(app.get("cores", 0))
    )
