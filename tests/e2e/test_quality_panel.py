"""The live page's alert-quality panel in headless Chromium, on a real app and redis-server."""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import redis

from rtad.common.labels import Label, encode_label
from rtad.common.local_redis import LocalRedis
from rtad.common.streams import StreamNames
from rtad.scorer.api.app import create_app
from rtad.scorer.model_holder import ModelHolder
from tests.e2e.browser import open_page
from tests.integration.scorer.helpers import live_server, settings_for, wait_until
from tests.unit.scorer.fixtures import (  # noqa: F401  (the scorer's session fixtures)
    models_dir,
    scorer_data,
    scorer_rows,
    scorer_tx,
)
from tests.unit.scorer.support import publish, read_stream

pytestmark = [pytest.mark.e2e, pytest.mark.redis]


@pytest.fixture
def served(
    redis_server: LocalRedis,
    models_dir: Path,  # noqa: F811
) -> Iterator[tuple[str, redis.Redis]]:
    """The scorer app (worker, label consumer, a challenger) on a free port."""
    settings = settings_for(redis_server.url, models_dir / "champion", quality_interval_s=0.5)
    holder = ModelHolder(models_dir / "champion", challenger_path=models_dir / "challenger")
    with live_server(create_app(settings, holder)) as url:
        yield f"{url}/", redis.Redis.from_url(redis_server.url)


def test_the_panel_shows_both_models_judged_on_the_verdicts(
    served: tuple[str, redis.Redis],
    names: StreamNames,
    scorer_rows: list[dict],  # noqa: F811
    tmp_path: Path,
) -> None:
    url, client = served
    now = int(time.time() * 1000)
    rows = [r | {"ingest_ms": now} for r in scorer_rows[:1500]]
    publish(client, names, rows)
    wait_until(lambda: len(read_stream(client, names, "scores")) == len(rows), timeout=60)
    fraud = {r["transaction_id"]: bool(r.get("is_fraud")) for r in rows}
    alerts = read_stream(client, names, "alerts")[:20]
    for a in alerts:
        verdict = "fraud" if fraud[a["transaction_id"]] else "genuine"
        label = Label(transaction_id=a["transaction_id"], user_id=a["user_id"],
                      verdict=verdict, source="analyst")  # fmt: skip
        client.xadd(names.for_user("labels", a["user_id"]), {"v": "1", "d": encode_label(label)})
    precision = f"{round(100 * sum(fraud[a['transaction_id']] for a in alerts) / len(alerts))}%"
    with open_page(url, tmp_path) as page:
        page.wait_until("document.querySelectorAll('#quality tr:not(.empty)').length === 5", 60)
        table = page.evaluate("document.getElementById('quality').innerText")
        summary = page.evaluate("document.getElementById('quality-verdicts').innerText")
    first = table.splitlines()[0].split("\t")
    assert first[0] == "alert precision" and first[1] == precision
    assert "alerts with a verdict\t20" in table
    assert summary.startswith(f"{len(alerts)} verdicts")
