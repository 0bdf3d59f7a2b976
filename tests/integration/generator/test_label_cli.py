"""``rtad label FILE`` into a real redis-server: labels stream, dead letters, the summary."""

from __future__ import annotations

import csv
from pathlib import Path

import orjson
import pytest
import redis

from rtad.common.encoding import payload_of
from rtad.common.labels import decode_label_entry, latest_verdicts
from rtad.common.streams import StreamNames, shard_of

from .conftest import Run

pytestmark = pytest.mark.redis

ROWS = [
    {"transaction_id": "t1", "user_id": "u1", "verdict": "fraud", "source": "analyst"},
    {
        "transaction_id": "t2",
        "user_id": "u2",
        "verdict": "genuine",
        "source": "chargeback",
        "given_at": "2026-01-09T10:00:00+00:00",
    },
    {"transaction_id": "never-seen", "user_id": "u3", "verdict": "fraud", "source": "simulated"},
    {"transaction_id": "t1", "user_id": "u1", "verdict": "genuine", "source": "analyst"},
]
BAD = [
    (
        {"transaction_id": "t9", "user_id": "u9", "verdict": "perhaps", "source": "analyst"},
        "verdict",
    ),
    ({"transaction_id": "t9", "user_id": "u9", "verdict": "fraud"}, "source"),
]


def _entries(client: redis.Redis, names: StreamNames, kind: str) -> list:
    return [e for key in names.all(kind) for e in client.xrange(key)]


def _write(path: Path) -> None:
    rows = [*ROWS[:2], BAD[0][0], *ROWS[2:], BAD[1][0]]
    if path.suffix == ".jsonl":
        path.write_bytes(b"".join(orjson.dumps(r) + b"\n" for r in rows) + b"{not json\n")
        return
    with path.open("w", newline="") as handle:
        fields = ["transaction_id", "user_id", "verdict", "source", "given_at"]
        writer = csv.DictWriter(handle, fieldnames=fields)
        writer.writeheader()
        writer.writerows(rows)


@pytest.mark.parametrize("suffix", [".jsonl", ".csv"])
def test_labels_go_to_their_shard_and_bad_rows_to_the_dead_letters(
    run_cli: Run,
    rtad_env: dict[str, str],
    redis_client: redis.Redis,
    names: StreamNames,
    tmp_path: Path,
    suffix: str,
) -> None:
    path = tmp_path / f"verdicts{suffix}"
    _write(path)
    done = run_cli("label", str(path), env=rtad_env)
    assert done.returncode == 0, done.stderr
    bad = len(BAD) + (suffix == ".jsonl")
    assert f"labelled 4 transactions from verdicts{suffix} (2 fraud, 2 genuine)" in done.stderr
    assert f"{bad} row(s) dead-lettered" in done.stderr
    labels = []
    for shard in range(names.shards):
        for entry_id, fields in redis_client.xrange(names.key("labels", shard)):
            label = decode_label_entry(entry_id, fields)
            assert shard == shard_of(label.user_id, names.shards)
            assert b"given_at" in payload_of(fields)  # the arrival time when the file had none
            labels.append(label)
    assert len(labels) == 4
    latest = latest_verdicts(labels)
    assert latest["t1"].verdict == "genuine"  # the later of the two verdicts on t1
    assert "never-seen" in latest  # kept for training
    assert latest["t2"].given_at is not None and latest["t2"].given_at.day == 9
    dead = _entries(redis_client, names, "deadletter")
    reasons = [fields[b"reason"].decode() for _, fields in dead]
    assert len(dead) == bad and all(f[b"stage"] == b"labels" for _, f in dead)
    assert any("verdict" in r for r in reasons) and any("source" in r for r in reasons)
    assert all(f[b"source"].decode().startswith(str(path)) for _, f in dead)


def test_clear_one_line_errors(run_cli: Run, rtad_env: dict[str, str], tmp_path: Path) -> None:
    missing = run_cli("label", str(tmp_path / "nope.jsonl"), env=rtad_env)
    assert missing.returncode != 0 and "no such file" in missing.stderr
    other = tmp_path / "verdicts.parquet"
    other.write_bytes(b"PAR1")
    refused = run_cli("label", str(other), env=rtad_env)
    assert refused.returncode != 0 and ".jsonl or .csv" in refused.stderr
    headless = tmp_path / "h.csv"
    headless.write_text("id,verdict\n1,fraud\n")
    header = run_cli("label", str(headless), env=rtad_env)
    assert header.returncode != 0 and "lacks source, transaction_id, user_id" in header.stderr
    only_bad = tmp_path / "bad.jsonl"
    only_bad.write_bytes(orjson.dumps(BAD[0][0]) + b"\n")
    none = run_cli("label", str(only_bad), env=rtad_env)
    assert none.returncode != 0 and "no valid label" in none.stderr
    for result in (missing, refused, header, none):
        assert "Traceback" not in result.stderr
        assert len(result.stderr.strip().splitlines()) <= 2
