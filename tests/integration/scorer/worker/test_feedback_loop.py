"""Challenger in shadow, promotion, alert budget and live quality on a real redis-server."""

from __future__ import annotations

import math
import threading
import time
from collections import Counter
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import redis

from rtad.common.labels import Label, encode_label
from rtad.common.local_redis import LocalRedis
from rtad.common.streams import StreamNames, shard_of
from rtad.scorer.alert_budget import event_ms
from rtad.scorer.promotion import follow_roles, publish_roles
from rtad.scorer.worker.loop import ScoringWorker
from tests.benchmarks.budget_reference import expected_threshold
from tests.integration.scorer.helpers import make_worker, step_until
from tests.unit.scorer.support import publish, read_stream

pytestmark = pytest.mark.redis


def worker_for(url: str, models: Path, **overrides: Any) -> ScoringWorker:
    """A worker with the champion served and the challenger in shadow."""
    return make_worker(url, models / "champion", challenger=models / "challenger", **overrides)


def fresh(rows: list[dict]) -> list[dict]:
    """The rows as if just ingested (the scored watermark follows ingest times)."""
    now = int(time.time() * 1000)
    return [row | {"ingest_ms": now, "feature_ms": now} for row in rows]


def challenger_rows(client: redis.Redis, names: StreamNames) -> list[dict]:
    """The challenger's scores, one dict a transaction (its entries hold a batch by column)."""
    out = []
    for entry in read_stream(client, names, "challenger-scores"):
        columns = ("transaction_id", "user_id", "event_time", "score", "would_alert")
        shared = {k: entry[k] for k in ("model_version", "threshold", "scored_ms")}
        for values in zip(*(entry[c] for c in columns), strict=True):
            out.append(shared | dict(zip(columns, values, strict=True)))
    return out


def by_tx(entries: list[dict]) -> dict[str, list[dict]]:
    out: dict[str, list[dict]] = {}
    for e in entries:
        out.setdefault(e["transaction_id"], []).append(e)
    return out


def test_the_challenger_scores_every_entry_once_on_its_own_stream_and_never_alerts(
    redis_server: LocalRedis,
    redis_client: redis.Redis,
    names: StreamNames,
    models_dir: Path,
    scorer_rows: list[dict],
) -> None:
    rows = scorer_rows[:1200]
    publish(redis_client, names, rows)
    worker = worker_for(redis_server.url, models_dir)
    champion, challenger = worker.holder.models
    assert challenger is not None
    step_until(worker, lambda: worker.scored == len(rows))
    shadow = by_tx(challenger_rows(redis_client, names))
    assert sorted(shadow) == sorted(r["transaction_id"] for r in rows)
    assert all(len(v) == 1 for v in shadow.values())
    assert {v[0]["model_version"] for v in shadow.values()} == {challenger.version}
    alerts = read_stream(redis_client, names, "alerts")
    assert {a["model_version"] for a in alerts} == {champion.version}
    would = {tx for tx, v in shadow.items() if v[0]["would_alert"]}
    assert would, "the challenger would alert on some transactions"
    indexed = set()
    for shard in range(names.shards):
        key = names.meta_key(f"q-alert:{challenger.version}", shard)
        indexed |= {tx.decode() for tx in redis_client.hkeys(key)}
    assert indexed == would


def test_a_challenger_built_on_the_champion_reuses_its_scores_and_scores_the_same(
    redis_server: LocalRedis,
    redis_client: redis.Redis,
    names: StreamNames,
    models_dir: Path,
    scorer_data: Path,
    scorer_rows: list[dict],
    tmp_path: Path,
) -> None:
    from rtad.ml.feedback_train import train_challenger

    verdicts = tmp_path / "verdicts.jsonl"
    verdicts.write_bytes(
        b"".join(
            encode_label(
                Label(
                    transaction_id=r["transaction_id"],
                    user_id=r["user_id"],
                    verdict="fraud",
                    source="chargeback",
                )
            )
            + b"\n"
            for r in scorer_rows
            if r.get("is_fraud")
        )  # fmt: skip
    )
    trained = tmp_path / "trained"
    train_challenger(scorer_data, str(verdicts), models_dir / "champion", trained, None, 0.0)
    rows = scorer_rows[:1200]
    publish(redis_client, names, rows)
    worker = make_worker(redis_server.url, models_dir / "champion", challenger=trained)
    champion, challenger = worker.holder.models
    assert challenger is not None and challenger.card["champion_version"] == champion.version
    step_until(worker, lambda: worker.scored == len(rows))
    shadow = {tx: v[0]["score"] for tx, v in by_tx(challenger_rows(redis_client, names)).items()}
    # the scores the challenger gives when it scores the champion itself, row by row
    X = np.array([[r["features"][n] for n in challenger.feature_names] for r in rows])
    alone = challenger.score(X)
    assert len(shadow) == len(rows)
    for row, expected in zip(rows, alone.tolist(), strict=True):
        assert math.isclose(shadow[row["transaction_id"]], expected, rel_tol=1e-9, abs_tol=1e-12)
    assert len(set(shadow.values())) > 10  # not one constant: the rows' own scores


def test_a_batch_whose_shadow_work_fails_stays_pending_and_is_scored_once_later(
    redis_server: LocalRedis,
    redis_client: redis.Redis,
    names: StreamNames,
    models_dir: Path,
    scorer_rows: list[dict],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from rtad.scorer.worker.shadow import Shadow

    build_ops = Shadow._challenger_ops
    failures = iter([RuntimeError("shadow stage broke")])

    def first_fails(self: Shadow, *args: Any) -> list[bytes]:
        failure = next(failures, None)
        if failure is not None:
            raise failure
        return build_ops(self, *args)

    monkeypatch.setattr(Shadow, "_challenger_ops", first_fails)
    rows = scorer_rows[:600]
    publish(redis_client, names, rows)
    worker = worker_for(redis_server.url, models_dir, batch_count=50, claim_idle_ms=200)
    seen: list[Exception] = []
    deadline = time.monotonic() + 30
    while worker.scored < len(rows) and time.monotonic() < deadline:
        try:
            worker.step()
        except RuntimeError as exc:  # the failure surfaces in the loop, as a commit failure
            seen.append(exc)
            time.sleep(0.3)  # past the claim idle time: the batch is claimed again
    worker.close()
    assert [str(e) for e in seen] == ["shadow stage broke"]
    scores = read_stream(redis_client, names, "scores")
    assert Counter(s["transaction_id"] for s in scores) == Counter(
        r["transaction_id"] for r in rows
    )  # the failed batch was neither committed then nor lost: scored once, after its claim
    assert len(challenger_rows(redis_client, names)) == len(rows)


def test_promote_while_scoring_loses_and_doubles_no_score(
    redis_server: LocalRedis,
    redis_client: redis.Redis,
    names: StreamNames,
    models_dir: Path,
    scorer_rows: list[dict],
) -> None:
    worker = worker_for(redis_server.url, models_dir, batch_count=50)
    versions = {m.version for m in worker.holder.models if m is not None}
    thread = threading.Thread(target=worker.run)
    thread.start()
    try:
        for start in range(0, len(scorer_rows), 300):
            publish(redis_client, names, scorer_rows[start : start + 300])
            worker.holder.promote()
            time.sleep(0.05)
        deadline = time.monotonic() + 60
        while worker.scored < len(scorer_rows):
            assert time.monotonic() < deadline, "the worker did not score every entry"
            time.sleep(0.05)
    finally:
        worker.stop()
        thread.join(30)
    scores = by_tx(read_stream(redis_client, names, "scores"))
    shadow = by_tx(challenger_rows(redis_client, names))
    expected = sorted(r["transaction_id"] for r in scorer_rows)
    assert sorted(scores) == expected and sorted(shadow) == expected
    assert all(len(v) == 1 for v in scores.values()) and all(len(v) == 1 for v in shadow.values())
    used = Counter(s[0]["model_version"] for s in scores.values())
    assert set(used) == versions, "both models were champion at some point"
    # one pair per batch: a transaction's two scores always come from the two models
    assert all(scores[tx][0]["model_version"] != shadow[tx][0]["model_version"] for tx in scores)


def aimed_per_bucket(client: redis.Redis, names: StreamNames, version: str, shard: int) -> dict:
    """The alerts a model's budget thresholds aimed at, per bucket, as the commits wrote them."""
    prefix = f"i:{version}:".encode()
    counts = client.hgetall(names.budget_counts_key(shard))
    return {int(f[len(prefix) :]): float(v) for f, v in counts.items() if f.startswith(prefix)}


def test_the_budget_threshold_is_the_recent_scores_quantile_at_the_budgets_share(
    redis_server: LocalRedis,
    redis_client: redis.Redis,
    names: StreamNames,
    models_dir: Path,
    scorer_rows: list[dict],
) -> None:
    """Each model's threshold and aim, read after the last commit, are those recomputed from
    the streams (rank, calibration, debt, ties); the rows a budget threshold judged
    recorded what it aimed at."""
    worker = worker_for(
        redis_server.url,
        models_dir,
        alert_mode="budget",
        alert_budget_per_hour=8,
        alert_budget_window_s=6 * 3600,
        batch_count=25,  # many batches: most are judged by a threshold read before them
    )
    budget = worker.shadow.budget
    budget.read_interval_s = 0.0  # read after every commit: the last read is exact
    publish(redis_client, names, scorer_rows)
    step_until(worker, lambda: worker.scored == len(scorer_rows))
    scores = read_stream(redis_client, names, "scores")
    for s in scores:  # every entry says the threshold it was judged by
        assert s["is_anomaly"] == (s["score"] >= s["threshold"])
    shadow = challenger_rows(redis_client, names)
    models = (
        (worker.holder.current.version, scores, "is_anomaly"),
        (worker.holder.challenger.version, shadow, "would_alert"),
    )
    checked = calibrated = 0
    for shard in range(names.shards):
        mine = [s for s in scores if shard_of(s["user_id"], names.shards) == shard]
        counted = [event_ms(s["event_time"]) for s in mine]
        for version, entries, flag in models:
            rows = [
                (e["score"], event_ms(e["event_time"]), e[flag])
                for e in entries
                if shard_of(e["user_id"], names.shards) == shard
            ]
            aimed = aimed_per_bucket(redis_client, names, version, shard)
            now = budget.now_ms[shard]
            expected = expected_threshold(budget.shape, now, rows, counted, aimed)
            got = budget.thresholds.get((version, shard))
            if expected is None:
                assert got is None
                continue
            assert got == expected[0]  # the kept score itself, all 17 digits
            assert budget.aims[(version, shard)] == pytest.approx(expected[1])
            checked += 1
            calibrated += bool(aimed)
    assert checked, "some shard had a threshold"
    assert calibrated, "some model's rows were judged by a budget threshold"


def label(tx: str, user: str, verdict: str, given: datetime, source: str = "analyst") -> Label:
    return Label(transaction_id=tx, user_id=user, verdict=verdict, source=source, given_at=given)


def verdict_word(fraud: bool) -> str:
    return "fraud" if fraud else "genuine"


def send(client: redis.Redis, names: StreamNames, labels: list[Label]) -> None:
    for item in labels:
        fields = {"v": "1", "d": encode_label(item)}
        client.xadd(names.for_user("labels", item.user_id), fields)  # type: ignore[arg-type]


def test_quality_from_verdicts_latest_counts_once_unknown_kept_held_until_scored(
    redis_server: LocalRedis,
    redis_client: redis.Redis,
    names: StreamNames,
    models_dir: Path,
    scorer_rows: list[dict],
) -> None:
    rows = fresh(scorer_rows[:2000])
    late = fresh(scorer_rows[2000:2001])[0]
    publish(redis_client, names, rows)
    worker = worker_for(redis_server.url, models_dir)
    step_until(worker, lambda: worker.scored == len(rows))
    alerts = read_stream(redis_client, names, "alerts")
    truth = {r["transaction_id"]: bool(r["is_fraud"]) for r in rows}
    t0 = datetime(2026, 1, 10, tzinfo=UTC)
    reviewed = alerts[:12]
    labels = [
        label(a["transaction_id"], a["user_id"], verdict_word(truth[a["transaction_id"]]), t0)
        for a in reviewed
    ]
    first = reviewed[0]
    flipped = "genuine" if truth[first["transaction_id"]] else "fraud"
    labels.append(label(first["transaction_id"], first["user_id"], flipped, t0 + timedelta(1)))
    labels.append(label(first["transaction_id"], first["user_id"], "fraud", t0 - timedelta(1)))
    labels.append(label("never-seen", "u-x", "fraud", t0, "chargeback"))
    send(redis_client, names, labels)
    redis_client.xadd(names.key("labels", 0), {"v": "1", "d": b'{"verdict":"maybe"}'})
    send(redis_client, names, [label(late["transaction_id"], late["user_id"], "fraud", t0)])
    consumer = worker.shadow.labels
    assert consumer is not None
    while consumer.consume(consumer.reader.read(1000, None)):
        pass
    report = consumer.refresh()
    verdict_of = {a["transaction_id"]: truth[a["transaction_id"]] for a in reviewed}
    verdict_of[first["transaction_id"]] = flipped == "fraud"  # the latest verdict counts
    champion = report.models["champion"]
    assert champion.reviewed_alerts == len(reviewed)
    assert champion.fraud_alerts == sum(verdict_of.values())
    assert report.verdicts.total == len(reviewed) + 2  # + never-seen + the late one
    # no shard has scored past their arrival yet: both wait for their transaction
    assert report.verdicts.held == 2 and report.verdicts.not_alerted == 0
    assert champion.reported_frauds == sum(verdict_of.values())
    dead = read_stream(redis_client, names, "deadletter")
    assert any(d.get(b"stage") == b"labels" for d in dead)
    later = int(time.time() * 1000) + 10
    newer = {names.for_user("features", r["user_id"]): r for r in scorer_rows[2001:]}
    more = [late, *newer.values()]  # the late one, and one more transaction a shard
    publish(redis_client, names, [r | {"ingest_ms": later} for r in more])
    step_until(worker, lambda: worker.scored == len(rows) + len(more))
    after = consumer.refresh()
    assert after.verdicts.held == 0 and after.verdicts.total == report.verdicts.total
    # never-seen is kept and counts as a reported fraud nobody alerted
    assert after.verdicts.not_alerted >= 1
    assert after.models["champion"].reported_frauds == champion.reported_frauds + 2
    assert set(after.models) == {"champion", "challenger"}
    shadow = after.models["challenger"]  # judged on the same verdicts
    assert shadow.reported_frauds == after.models["champion"].reported_frauds
    assert shadow.recall is not None and 0.0 <= shadow.recall <= 1.0


def test_another_replica_follows_a_promotion_between_its_batches(
    redis_server: LocalRedis,
    redis_client: redis.Redis,
    names: StreamNames,
    models_dir: Path,
    scorer_rows: list[dict],
) -> None:
    here = worker_for(redis_server.url, models_dir)
    there = worker_for(redis_server.url, models_dir, consumer_name="replica-b")
    champion, challenger = here.holder.models
    here.holder.promote()
    publish_roles(redis_client, names, here.holder)
    publish(redis_client, names, scorer_rows[:400])
    step_until(there, lambda: there.scored == 400)
    assert there.holder.current.version == challenger.version
    assert there.holder.challenger.version == champion.version
    scores = read_stream(redis_client, names, "scores")
    assert {s["model_version"] for s in scores} == {challenger.version}
    assert not follow_roles(redis_client, names, there.holder)  # once, not back and forth
