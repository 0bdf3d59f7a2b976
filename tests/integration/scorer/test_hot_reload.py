"""Hot model swap while the worker is busy: no batch lost or doubled, the new version appears."""

from __future__ import annotations

import threading
import time
from pathlib import Path

import orjson
import pytest
import redis

from rtad.common.local_redis import LocalRedis
from rtad.common.streams import StreamNames
from tests.integration.scorer.helpers import app_client, wait_until
from tests.unit.scorer.support import pending_total, publish

pytestmark = pytest.mark.redis


def test_reload_under_load_keeps_exactly_once_and_switches_per_batch(
    redis_server: LocalRedis,
    redis_client: redis.Redis,
    names: StreamNames,
    models_dir: Path,
    scorer_rows: list[dict],
) -> None:
    champion, challenger = models_dir / "champion", models_dir / "challenger"
    key = {"X-API-Key": "k"}
    with app_client(redis_server.url, champion, api_key="k", batch_count=25) as client:
        old = client.get("/v1/model").json()["version"]
        reloaded = threading.Event()
        feeding = threading.Thread(target=_feed, args=(redis_client, names, scorer_rows, reloaded))
        feeding.start()
        wait_until(lambda: client.get("/v1/stats").json()["totals"]["scored"] > 500)
        answer = client.post("/v1/model/reload", headers=key, json={"path": str(challenger)})
        reloaded.set()
        assert answer.status_code == 200
        new = answer.json()["version"]
        feeding.join()
        wait_until(lambda: client.get("/v1/stats").json()["totals"]["scored"] == len(scorer_rows))
    assert new != old
    seen: dict[str, int] = {}
    for shard in range(names.shards):
        versions = []
        for _id, fields in redis_client.xrange(names.key("scores", shard)):
            score = orjson.loads(fields[b"d"])
            seen[score["transaction_id"]] = seen.get(score["transaction_id"], 0) + 1
            versions.append(score["model_version"])
        switch = versions.index(new) if new in versions else len(versions)
        assert set(versions[:switch]) <= {old} and set(versions[switch:]) <= {new}
    assert len(seen) == len(scorer_rows) and set(seen.values()) == {1}
    assert pending_total(redis_client, names) == 0
    all_versions = {
        orjson.loads(f[b"d"])["model_version"]
        for k in names.all("scores")
        for _i, f in redis_client.xrange(k)
    }
    assert all_versions == {old, new}


def _feed(
    client: redis.Redis, names: StreamNames, rows: list[dict], reloaded: threading.Event
) -> None:
    """Publish in chunks over about two seconds, as a live stream would.

    The last quarter waits for the reload to have answered: on a loaded machine loading the
    challenger can outlast the whole feed, and the new version would then never appear.
    """
    last = len(rows) * 3 // 4
    for start in range(0, len(rows), 150):
        if start >= last:
            reloaded.wait(60)
        publish(client, names, rows[start : start + 150])
        time.sleep(0.1)
