"""The alert budget's arithmetic and operations, and the model pair's atomic swap."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pytest

from rtad.common.streams import StreamNames
from rtad.scorer.alert_budget import PAIRS_PER_OP, AlertBudget, BudgetShape, event_ms_array
from rtad.scorer.model_holder import ChallengerRefused, ModelHolder

HOUR_MS = 3_600_000


def test_shape_shares_the_budget_between_shards_in_quarter_hour_buckets() -> None:
    shape = BudgetShape(per_hour=60, shards=4, window_s=86_400)
    assert (shape.buckets, shape.short_buckets, shape.bucket_ms) == (96, 4, 900_000)
    assert shape.per_ms == pytest.approx(15 / HOUR_MS)
    assert shape.capacity == 60  # four times a shard's hour
    assert shape.catch_up_ms == 12 * HOUR_MS  # half the window
    assert BudgetShape(per_hour=1, shards=8, window_s=3600).capacity == 6  # never below a few


def _ops(ops: list[bytes]) -> list[list[bytes]]:
    out, i = [], 0
    while i < len(ops):
        n = int(ops[i])
        out.append(ops[i + 1 : i + 1 + n])
        i += 1 + n
    return out


def test_window_ops_keep_each_buckets_top_scores_and_count_rows_and_alerts() -> None:
    budget = AlertBudget(StreamNames(shards=2), BudgetShape(2, 2, 3600))  # keeps 6 a bucket
    scores = np.array([0.1 * i for i in range(8)] + [0.05])
    times = event_ms_array(["1970-01-01T00:00:00+00:00"] * 8 + ["1970-01-01T01:16:00+01:00"])
    assert times[-1] == 960_000  # 0:16 UTC
    members = [f"t{i}" for i in range(9)]
    alerted = scores >= 0.55  # t6 and t7
    ops = _ops(budget.window_ops("v1", 1, scores, members, times, True, alerted))
    zadds = {o[1]: o[2:] for o in ops if o[0] == b"ZADD"}
    first = zadds[b"rtad:meta:budget:v1:0:{1}"]
    assert first[1::2] == [b"t7", b"t6", b"t5", b"t4", b"t3", b"t2"]  # the top 6 of 8
    assert zadds[b"rtad:meta:budget:v1:1:{1}"] == [b"0.05", b"t8"]
    incr = [(o[2], o[3]) for o in ops if o[0] == b"HINCRBY"]
    assert incr == [(b"0", b"8"), (b"1", b"1"), (b"a:v1:0", b"2")]
    assert all(o[1] == b"rtad:meta:budget-count:{1}" for o in ops if o[0] == b"HINCRBY")
    assert budget.now_ms[1] == 960_000
    shadow = _ops(budget.window_ops("v2", 1, scores, members, times, False))
    assert not [o for o in shadow if o[0] == b"HINCRBY"]  # rows are counted once


def test_a_large_budget_keeps_each_command_within_luas_unpack_limit() -> None:
    """A bucket keeping more scores than one command carries: several ZADDs, all kept."""
    budget = AlertBudget(StreamNames(shards=1), BudgetShape(1000, 1, 3600))  # keeps 4000
    n = 2 * PAIRS_PER_OP + 3
    scores = np.linspace(0.0, 1.0, n)
    ops = _ops(budget.window_ops("v1", 0, scores, [f"t{i}" for i in range(n)], np.zeros(n)))
    zadds = [o for o in ops if o[0] == b"ZADD"]
    assert len(zadds) == 3 and all(len(o) <= 2 + 2 * PAIRS_PER_OP for o in zadds)
    assert sorted(m for o in zadds for m in o[3::2]) == sorted(f"t{i}".encode() for i in range(n))


def test_thresholds_fall_back_to_the_fixed_one_until_a_window_is_read() -> None:
    budget = AlertBudget(StreamNames(shards=2), BudgetShape(4, 2, 3600))
    shards = np.array([0, 1, 1, 0])
    assert budget.row_thresholds("v1", 0.7, shards).tolist() == [0.7] * 4
    budget.apply(1, ["v1", "v2"], [b"0.93", b"0.02", b"", b""])
    assert budget.row_thresholds("v1", 0.7, shards).tolist() == [0.7, 0.93, 0.93, 0.7]
    assert budget.aims == {("v1", 1): 0.02}
    assert budget.threshold("v2", 0.4, 1) == 0.4  # its window was short
    budget.apply(1, ["v1", "v2"], [b"", b"", b"", b""])  # the window went short again
    assert budget.threshold("v1", 0.7, 1) == 0.7 and budget.aims == {}
    with pytest.raises(ValueError, match="2 values read for 2 models"):
        budget.apply(1, ["v1", "v2"], [b"0.93", b"0.02"])
    off = AlertBudget(StreamNames(shards=2), BudgetShape(4, 2, 3600), enabled=False)
    off.thresholds[("v1", 1)] = 0.93
    assert off.threshold("v1", 0.7, 1) == 0.7
    assert off.window_ops("v1", 1, np.array([1.0]), ["t"], np.array([0])) == []


def test_rows_judged_by_a_budget_threshold_record_what_it_aimed_at() -> None:
    """Per bucket, the aim of the threshold in force times the rows; none under the fixed one."""
    budget = AlertBudget(StreamNames(shards=1), BudgetShape(4, 1, 3600))
    when = np.array([0, 1, 2, 900_000], dtype=np.int64)  # three rows in bucket 0, one in 1
    scores, members = np.array([0.1, 0.9, 0.2, 0.3]), ["t0", "t1", "t2", "t3"]
    alerted = scores >= 0.5
    fixed = _ops(budget.window_ops("v1", 0, scores, members, when, True, alerted))
    assert not [o for o in fixed if o[0] == b"HINCRBYFLOAT"]
    budget.apply(0, ["v1"], [b"0.5", b"0.25"])
    ops = _ops(budget.window_ops("v1", 0, scores, members, when, True, alerted))
    aimed = {o[2]: float(o[3]) for o in ops if o[0] == b"HINCRBYFLOAT"}
    assert aimed == {b"i:v1:0": 0.75, b"i:v1:1": 0.25}
    shadow = _ops(budget.window_ops("v2", 0, scores, members, when, False, alerted))
    assert not [o for o in shadow if o[0] == b"HINCRBYFLOAT"]  # v2 has no threshold read


def test_buckets_leaving_the_window_are_deleted_once_even_those_no_batch_began_in() -> None:
    budget = AlertBudget(StreamNames(shards=1), BudgetShape(4, 1, 3600))  # 4 buckets a window
    bucket_ms = budget.shape.bucket_ms

    def deleted(bucket: int) -> tuple[list[bytes], list[bytes]]:
        when = np.array([bucket * bucket_ms], dtype=np.int64)
        ops = _ops(budget.window_ops("v1", 0, np.array([1.0]), ["t"], when, True, when > 0))
        fields = [f for o in ops if o[0] == b"HDEL" for f in o[2:]]
        keys = [k for o in ops if o[0] == b"DEL" for k in o[1:]]
        return fields, keys

    def named(buckets: range) -> list[bytes]:
        counts = [b"%d" % b for b in buckets]
        return counts + [f.encode() for b in buckets for f in (f"a:v1:{b}", f"i:v1:{b}")]

    fields, keys = deleted(10)  # the first batch: the window's worth before the edge (5)
    assert fields == named(range(2, 6))
    assert keys == [f"rtad:meta:budget:v1:{b}:{{0}}".encode() for b in range(2, 6)]
    assert deleted(10) == ([], [])  # the same bucket again: nothing new left the window
    fields, keys = deleted(13)  # buckets 11 and 12 had no batch: 6, 7 and 8 leave
    assert fields == named(range(6, 9))
    assert len(keys) == 3
    assert deleted(12) == ([], [])  # a late batch deletes nothing


class Model:
    """A tiny scoring model with a card (the holder's loader contract)."""

    def __init__(self, version: str, features: list[str]) -> None:
        self.version, self.feature_names, self.threshold = version, features, 0.5
        self.card: dict[str, Any] = {"detector": version}

    def score(self, X: np.ndarray) -> np.ndarray:
        return X.sum(axis=1)

    def score_beside(self, X: np.ndarray, version: str, scores: np.ndarray) -> np.ndarray:
        return self.score(X)

    def reasons(self, X: np.ndarray, top_k: int = 3) -> list[list[dict[str, Any]]]:
        return [[] for _ in X]


def loader_of(models: dict[str, Model]):
    return lambda path: models[Path(path).name]


def test_promote_swaps_the_pair_in_one_assignment_and_back() -> None:
    models = {"a": Model("A", ["x", "y"]), "b": Model("B", ["y", "x"])}
    holder = ModelHolder(Path("a"), loader_of(models), challenger_path=Path("b"))
    before = holder.models
    champion, challenger = holder.promote()
    assert (champion.version, challenger.version) == ("B", "A")
    assert before == (models["a"], models["b"])  # a batch holding the old pair keeps it
    assert holder.models == (models["b"], models["a"]) and holder.current is models["b"]
    assert holder.path == Path("b") and holder.challenger_path == Path("a")
    holder.promote()
    assert holder.models == before


def test_a_challenger_on_other_features_is_refused_with_one_line() -> None:
    models = {"a": Model("A", ["x", "y"]), "b": Model("B", ["x", "z"])}
    with pytest.raises(ChallengerRefused) as refused:
        ModelHolder(Path("a"), loader_of(models), challenger_path=Path("b"))
    message = str(refused.value)
    assert "\n" not in message
    assert "feature set differs" in message and "z" in message and "y" in message


def test_promote_without_a_challenger_is_refused() -> None:
    holder = ModelHolder(Path("a"), loader_of({"a": Model("A", ["x"])}))
    with pytest.raises(ChallengerRefused, match="no challenger"):
        holder.promote()
    assert holder.challenger is None
