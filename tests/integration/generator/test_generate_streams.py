"""rtad generate into real Redis streams: every record, in its shard, valid; clean stop."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
import urllib.request
from collections.abc import Callable

import pytest
import redis

from rtad.common.encoding import payload_of
from rtad.common.local_redis import LocalRedis, free_port
from rtad.common.schema import decode_json
from rtad.common.streams import StreamNames, shard_of
from rtad.generator import metrics
from rtad.generator.runner import run_generate, stream_sink
from rtad.generator.settings import GeneratorSettings
from rtad.generator.simulator import SimConfig, generate_records

from .conftest import Run

pytestmark = pytest.mark.redis

CONFIG = SimConfig(seed=4, count=3000, customers=80, merchants=400, fraud_rate=0.03)


def test_generated_records_land_in_their_shards_in_order(
    rtad_env: dict[str, str], redis_client: redis.Redis, names: StreamNames
) -> None:
    before = metrics.RECORDS_SENT.labels(source="generate")._value.get()
    summary = run_generate(CONFIG, stream_sink(GeneratorSettings(), "generate"))
    assert summary.records == 3000
    expected: dict[int, list[str]] = {s: [] for s in range(names.shards)}
    for record in generate_records(CONFIG):
        expected[shard_of(record["user_id"], names.shards)].append(record["transaction_id"])
    for shard, ids in expected.items():
        entries = redis_client.xrange(names.key("tx", shard))
        txs = [decode_json(payload_of(fields)) for _, fields in entries]
        assert [tx.transaction_id for tx in txs] == ids  # per-card order is kept in a shard
        assert all(shard_of(tx.user_id, names.shards) == shard for tx in txs)
    assert sum(redis_client.xlen(k) for k in names.all("deadletter")) == 0
    assert metrics.RECORDS_SENT.labels(source="generate")._value.get() - before == 3000


def test_cli_generate_writes_the_requested_count(
    rtad_env: dict[str, str], redis_client: redis.Redis, names: StreamNames, run_cli: Run
) -> None:
    result = run_cli("generate", "--count", "700", "--seed", "9", "--customers", "50")
    assert result.returncode == 0, result.stderr
    assert sum(redis_client.xlen(k) for k in names.all("tx")) == 700
    assert "generated 700 transactions" in result.stderr


def test_a_second_run_without_seed_writes_new_transaction_ids(
    rtad_env: dict[str, str], redis_client: redis.Redis, names: StreamNames, run_cli: Run
) -> None:
    for _ in range(2):  # what a restarted generator pod does: the same command again
        result = run_cli("generate", "--count", "300", "--customers", "20")
        assert result.returncode == 0, result.stderr
        assert "--seed" in result.stderr  # the drawn seed is logged, so the data can be repeated
    ids = [
        decode_json(payload_of(fields)).transaction_id
        for key in names.all("tx")
        for _id, fields in redis_client.xrange(key)
    ]
    assert len(ids) == 600 and len(set(ids)) == 600


def test_rate_mode_runs_until_sigterm_then_flushes(
    rtad_env: dict[str, str], redis_client: redis.Redis, names: StreamNames
) -> None:
    port = free_port()
    command = ["generate", "--rate", "300", "--customers", "50", "--metrics-port", str(port)]
    process = subprocess.Popen(
        [sys.executable, "-m", "rtad.cli.main", *command],
        env={**os.environ, "RTAD_PRODUCER_BATCH": "64"},
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        deadline = time.monotonic() + 60
        seen = 0
        while seen < 300 and time.monotonic() < deadline:  # running, paced, unbounded
            time.sleep(0.2)
            seen = sum(redis_client.xlen(k) for k in names.all("tx"))
        assert process.poll() is None and seen >= 300
        exposition = urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics").read()
        process.send_signal(signal.SIGTERM)
        _, err = process.communicate(timeout=30)
    finally:
        if process.poll() is None:
            process.kill()
    assert process.returncode == 0, err
    written = sum(redis_client.xlen(k) for k in names.all("tx"))
    assert f"generated {written} transactions" in err  # the last partial batch was flushed
    assert written >= seen
    assert_metrics(exposition.decode())


def assert_metrics(text: str) -> None:
    """The generator's exposition has the agreed series and promtool finds nothing to lint."""
    values = {
        line.rsplit(" ", 1)[0]: float(line.rsplit(" ", 1)[1])
        for line in text.splitlines()
        if line.startswith("rtad_generator_")
    }
    assert values['rtad_generator_transactions_total{scenario="genuine"}'] >= 300
    assert values['rtad_generator_records_sent_total{source="generate"}'] >= 300
    assert "rtad_generator_backpressure_wait_seconds_total" in values
    assert {f'rtad_generator_backlog_entries{{shard="{s}"}}' for s in range(4)} <= values.keys()
    lint = subprocess.run(
        ["promtool", "check", "metrics"], input=text, capture_output=True, text=True
    )
    assert lint.returncode == 0, lint.stdout + lint.stderr


def test_redis_dying_mid_run_is_one_line_not_a_traceback(
    redis_factory: Callable[..., LocalRedis],
) -> None:
    server = redis_factory()
    client = redis.Redis.from_url(server.url)
    process = subprocess.Popen(
        [sys.executable, "-m", "rtad.cli.main", "generate", "--rate", "500", "--customers", "30"],
        env={**os.environ, "RTAD_REDIS_URL": server.url, "RTAD_PRODUCER_BATCH": "20"},
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        deadline = time.monotonic() + 60
        while client.exists("rtad:tx:{0}") == 0 and time.monotonic() < deadline:
            time.sleep(0.1)
        server.kill()
        _, err = process.communicate(timeout=90)
    finally:
        if process.poll() is None:
            process.kill()
    assert process.returncode == 1
    assert "Traceback" not in err
    assert err.strip().splitlines()[-1].startswith("rtad: error: Redis failed after ")


def test_backpressure_waits_for_readers_and_still_stops_on_sigterm(
    rtad_env: dict[str, str], redis_client: redis.Redis, names: StreamNames
) -> None:
    env = {**os.environ, "RTAD_HIGH_WATER": "300", "RTAD_LOW_WATER": "100"}
    env["RTAD_PRODUCER_BATCH"] = "50"
    process = subprocess.Popen(
        [sys.executable, "-m", "rtad.cli.main", "generate", "--customers", "30"],
        env=env,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        deadline, sizes = time.monotonic() + 60, [-1]
        while time.monotonic() < deadline:  # no reader: the backlog must stop growing
            time.sleep(0.5)
            sizes.append(sum(redis_client.xlen(k) for k in names.all("tx")))
            if sizes[-1] > 0 and sizes[-1] == sizes[-2]:
                break
        assert process.poll() is None  # waiting, not crashed, not trimming unread entries
        assert max(redis_client.xlen(k) for k in names.all("tx")) <= 300 + 50
        process.send_signal(signal.SIGTERM)
        _, err = process.communicate(timeout=30)
    finally:
        if process.poll() is None:
            process.kill()
    assert process.returncode == 0, err
    assert "backpressure" in err
    written = sum(redis_client.xlen(k) for k in names.all("tx"))
    assert f"generated {written} transactions" in err
