"""Learning from verdicts end to end: rtad train --labels (file and stream) and
rtad compare --feedback-loop, through the real console script."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path

import numpy as np
import orjson
import pytest
import redis
from msgspec.structs import replace

from rtad.common.feature_entry import feature_set_id
from rtad.common.labels import encode_label
from rtad.common.streams import StreamNames, shard_of
from rtad.features.table import FEATURE_COLUMNS
from rtad.ml.feedback_replay import LoopConfig, prepare, simulate_verdicts
from rtad.ml.feedback_report import JSON_FILE, MARKDOWN_FILE, PLOT_FILE, generate_days
from rtad.ml.model_store import load_model

CHAMPION = Path("models/champion")


def rtad(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "rtad.cli.main", *args],
        env={**os.environ, **(env or {})},
        capture_output=True,
        text=True,
        timeout=600,
    )


@pytest.fixture(scope="module")
def generated(tmp_path_factory: pytest.TempPathFactory) -> dict:
    """12 days of 300 cards, and the verdicts the investigators give on them."""
    work = tmp_path_factory.mktemp("feedback")
    data = generate_days(work / "days.parquet", 12, 300, seed=5, fraud_rate=0.02)
    loop = prepare(data, load_model(CHAMPION))
    labels = simulate_verdicts(loop, LoopConfig(capacity=20))
    path = work / "verdicts.jsonl"
    path.write_bytes(b"".join(encode_label(x) + b"\n" for x in labels))
    return {"data": data, "labels": labels, "labels_file": path, "work": work}


def check_challenger(out: Path) -> None:
    model = load_model(out)
    champion = load_model(CHAMPION)
    assert model.card["detector"] == "challenger" and model.card["score_method"] == "proba"
    assert model.feature_names == champion.feature_names  # the scorer builds the same rows
    assert model.card["feature_set"] == feature_set_id(FEATURE_COLUMNS)
    assert model.card["champion_version"] == champion.version
    X = np.zeros((4, len(model.feature_names)))
    scores = model.score(X)
    assert scores.shape == (4,) and ((0 <= scores) & (scores <= 1)).all()
    assert len(model.reasons(X)) == 4


def test_train_a_challenger_from_a_labels_file(generated: dict, tmp_path: Path) -> None:
    out = tmp_path / "challenger"
    done = rtad(
        "train",
        "--data",
        str(generated["data"]),
        "--labels",
        str(generated["labels_file"]),
        "--out",
        str(out),
    )
    assert done.returncode == 0, done.stderr
    assert "challenger on" in done.stdout and "feature set" in done.stdout
    check_challenger(out)


def test_verdicts_given_after_the_last_transaction_all_count(
    generated: dict, tmp_path: Path
) -> None:
    """Analysts label last week's file today: their verdicts, stamped with today's clock,
    are known at training time, and the rows before them are settled."""
    today = datetime.now(UTC)
    late = tmp_path / "labelled-today.jsonl"
    late.write_bytes(
        b"".join(
            encode_label(replace(x, given_at=today + timedelta(seconds=i))) + b"\n"
            for i, x in enumerate(generated["labels"])
        )
    )
    out = tmp_path / "challenger"
    done = rtad("train", "--data", str(generated["data"]), "--labels", str(late), "--out", str(out))
    assert done.returncode == 0, done.stderr
    training = load_model(out).card["training"]
    latest = {x.transaction_id for x in generated["labels"]}
    assert training["verdict_rows"] == len(latest) > 0
    assert datetime.fromisoformat(training["as_of"]) >= today


@pytest.mark.redis
def test_train_a_challenger_from_the_labels_stream(
    generated: dict, redis_client: redis.Redis, rtad_env: dict[str, str], tmp_path: Path
) -> None:
    names = StreamNames(shards=4)
    for label in generated["labels"]:
        key = names.key("labels", shard_of(label.user_id, 4))
        redis_client.xadd(key, {b"v": b"1", b"d": encode_label(label)})
    out = tmp_path / "challenger"
    done = rtad(
        "train",
        "--data",
        str(generated["data"]),
        "--labels",
        "stream",
        "--out",
        str(out),
        env=rtad_env,
    )
    assert done.returncode == 0, done.stderr
    check_challenger(out)


def test_train_refuses_labels_with_one_line(generated: dict, tmp_path: Path) -> None:
    only_genuine = tmp_path / "genuine.jsonl"
    only_genuine.write_bytes(
        orjson.dumps(
            {
                "transaction_id": "x",
                "user_id": "u",
                "verdict": "genuine",
                "source": "analyst",
                "given_at": "2026-01-05T01:00:00+00:00",
            }
        )
        + b"\n"
    )
    empty = tmp_path / "empty.jsonl"
    empty.write_bytes(b"")
    for path in (only_genuine, empty, tmp_path / "missing.jsonl"):
        done = rtad(
            "train",
            "--data",
            str(generated["data"]),
            "--labels",
            str(path),
            "--out",
            str(tmp_path / "m"),
        )
        assert done.returncode != 0 and "Traceback" not in done.stderr
        assert len(done.stderr.strip().splitlines()) == 1, done.stderr


def test_compare_replays_the_feedback_loop(generated: dict, tmp_path: Path) -> None:
    out = tmp_path / "report"
    done = rtad(
        "compare",
        "--feedback-loop",
        "--data",
        str(generated["data"]),
        "--out",
        str(out),
        "--capacity",
        "20",
        "--retrain-every",
        "2",
        "--train-days",
        "9",
    )
    assert done.returncode == 0, done.stderr
    report = json.loads((out / JSON_FILE).read_text())
    assert [row["day"] for row in report["loop"]] == [7, 9, 11]
    assert report["holdout"]["train_days"] == 9
    verdicts = [row["training"]["verdicts"] for row in report["loop"]]
    assert verdicts == sorted(verdicts) and verdicts[0] > 0  # they accumulate
    for row in report["loop"]:
        for model in ("champion", "challenger"):
            assert 0 <= row[model]["average_precision"] <= 1
    assert (out / PLOT_FILE).stat().st_size > 0
    assert "| champion |" in (out / MARKDOWN_FILE).read_text()
