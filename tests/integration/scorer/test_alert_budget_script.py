"""The alert budget's threshold script against a real redis-server, fed by the commit script.

Each test drives one shard's :class:`AlertBudget` as the worker does: a batch is judged by the
threshold read after the previous commit, its operations go through the shard's commit
script, then the threshold is read again (``THRESHOLD_SCRIPT``); the reference
recomputation (:mod:`tests.benchmarks.budget_reference`) says what it must be.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import pytest
import redis

from rtad.common.resp import exchange_all, pooled_connection
from rtad.common.streams import StreamNames
from rtad.scorer.alert_budget import AlertBudget, BudgetShape
from rtad.scorer.worker.batch import ShardOutput
from rtad.scorer.worker.commit_script import commit_shards
from tests.benchmarks.budget_reference import Row, expected_threshold

pytestmark = pytest.mark.redis

HOUR_MS = 3_600_000
FIXED = 100.0  # the model's own threshold: above every score of these tests


@dataclass
class Shard:
    """One shard's budget, committed and read back through the real scripts."""

    client: redis.Redis
    budget: AlertBudget
    shard: int = 0
    rows: list[Row] = field(default_factory=list)
    aimed: dict[int, float] = field(default_factory=dict)

    def judge(self, scores: np.ndarray, when: np.ndarray, version: str = "v1") -> np.ndarray:
        """Score a batch at the threshold in force, commit it, read the threshold again."""
        alerted = scores >= self.budget.threshold(version, FIXED, self.shard)
        self.commit(scores, when, alerted, version)
        return alerted

    def commit(
        self, scores: np.ndarray, when: np.ndarray, alerted: np.ndarray, version: str = "v1"
    ) -> None:
        aim = self.budget.aims.get((version, self.shard))
        for b in (when // self.budget.shape.bucket_ms).tolist():
            self.aimed[b] = self.aimed.get(b, 0.0) + (aim or 0.0)
        members = [f"t{len(self.rows) + i}" for i in range(len(scores))]
        self.rows += zip(scores.tolist(), when.tolist(), alerted.tolist(), strict=True)
        out = ShardOutput(self.shard, scores=[b"{}"] * len(scores))
        out.add_ops(
            self.budget.window_ops(version, self.shard, scores, members, when, True, alerted)
        )
        commit_shards(self.client, self.budget.names, "scorer", "w", [out], 0)
        command = self.budget.read_command(self.shard, [version])
        assert command is not None
        with pooled_connection(self.client) as conn:
            (reply,) = exchange_all(conn, [command], 1)
        self.budget.apply(self.shard, [version], reply)

    def expected(self) -> tuple[float, float] | None:
        shape, now = self.budget.shape, self.budget.now_ms[self.shard]
        counted = [t for _s, t, _a in self.rows]
        return expected_threshold(shape, now, self.rows, counted, self.aimed)

    def got(self, version: str = "v1") -> tuple[float, float] | None:
        key = (version, self.shard)
        return (
            (self.budget.thresholds[key], self.budget.aims[key])
            if key in self.budget.thresholds
            else None
        )


def shard_of(client: redis.Redis, shard: int, per_hour: float, window_s: int) -> Shard:
    shape = BudgetShape(per_hour, 1, window_s)
    budget = AlertBudget(StreamNames(shards=4), shape, read_interval_s=0.0)
    return Shard(client, budget, shard)


def traffic(hours: int, per_hour: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Distinct scores at evenly spaced event times (epoch ms from 0)."""
    rng = np.random.default_rng(seed)
    n = hours * per_hour
    return rng.permutation(n) / n, np.arange(n, dtype=np.int64) * (HOUR_MS // per_hour)


def test_the_rank_is_corrected_by_what_the_window_owes_the_budget(
    redis_client: redis.Redis,
) -> None:
    """Two shards with the same scores (the rank: 4 of the last hour's 60): one raised no
    alert (it owes the budget: the rank doubles, the most the correction allows), one twice
    its budget (the rank shrinks to the top score); before its second bucket, a shard has no
    threshold but the fixed one."""
    scores, when = traffic(6, 60, seed=1)
    owes = shard_of(redis_client, 0, 4, 6 * 3600)
    owes.commit(scores[:10], when[:10], np.zeros(10, dtype=bool))
    assert owes.got() is None  # one bucket counted: not enough to rank
    owes.commit(scores[10:], when[10:], np.zeros(len(scores) - 10, dtype=bool))
    spent = shard_of(redis_client, 1, 4, 6 * 3600)
    spent.commit(scores, when, np.arange(len(scores)) % 8 == 0)  # 45 alerts, 24 wanted
    low, high = owes.got(), spent.got()
    assert low == owes.expected() and high == spent.expected()
    assert low is not None and high is not None
    assert (low[1], high[1]) == (8 / 60, 1 / 60)
    assert low[0] < high[0]


def test_the_rank_is_calibrated_by_the_alerts_its_thresholds_aimed_at(
    redis_client: redis.Redis,
) -> None:
    """Two shards raise the same 45 alerts; the thresholds of one aimed at half of them (its
    bursts went through whole): its rank is halved, so its threshold is higher."""
    scores, when = traffic(6, 60, seed=2)
    alerted = np.arange(len(scores)) % 8 == 0
    plain = shard_of(redis_client, 0, 8, 6 * 3600)
    calibrated = shard_of(redis_client, 1, 8, 6 * 3600)
    calibrated.budget.apply(1, ["v1"], [b"1.0", repr(0.5 * 45 / 360).encode()])
    for shard in (plain, calibrated):
        shard.commit(scores, when, alerted)
        assert shard.got() == shard.expected()
    assert sum(calibrated.aimed.values()) == pytest.approx(22.5)
    got_plain, got_calibrated = plain.got(), calibrated.got()
    assert got_plain is not None and got_calibrated is not None
    assert got_plain[1] >= 6 / 60  # a rank of 6 or more: halving it shows
    assert got_calibrated[1] == pytest.approx(got_plain[1] / 2, abs=0.5 / 60)  # rounded
    assert got_calibrated[0] > got_plain[0]


def test_a_tie_at_the_rank_moves_the_threshold_above_the_crowd(redis_client: redis.Redis) -> None:
    """The rank (8 of the last hour's 60) falls among many equal scores: the threshold is the
    lowest score above them, or the fixed one when every kept score ties; the threshold is
    the kept score itself, all 17 digits."""
    when = np.arange(240, dtype=np.int64) * (HOUR_MS // 60)
    quiet = np.zeros(240, dtype=bool)
    crowd = np.full(240, 0.5)
    crowd[[200, 210]] = [0.7, 0.9]
    tied = shard_of(redis_client, 0, 4, 6 * 3600)
    tied.commit(crowd, when, quiet)
    assert tied.got() == tied.expected() == (0.7, 2 / 60)
    everyone = shard_of(redis_client, 1, 4, 6 * 3600)
    everyone.commit(np.full(240, 0.5), when, quiet)
    assert everyone.got() is None and everyone.expected() is None
    distinct = np.linspace(0.0, 0.2, 240)
    distinct[[181, 185, 190, 195, 200, 205, 210, 215]] = [*np.linspace(0.4, 1.0, 7), 0.1 + 0.2]
    exact = shard_of(redis_client, 2, 4, 6 * 3600)
    exact.commit(distinct, when, quiet)
    assert exact.got() == exact.expected() == (0.1 + 0.2, 8 / 60)  # not 0.3


def bursty_day(rng: np.random.Generator, start_ms: int, bursts_per_hour: float) -> list:
    """A day of 120 genuine transactions an hour and bursts of 8 frauds of one card, each
    within seconds (so one batch holds a whole burst)."""
    times: list[int] = []
    scores: list[float] = []
    for quarter in range(96):
        begin = start_ms + quarter * 900_000
        n = rng.poisson(30)
        times += (begin + rng.integers(0, 900_000, n)).tolist()
        scores += rng.normal(0, 1, n).tolist()
        for _ in range(rng.poisson(bursts_per_hour / 4)):
            at = begin + int(rng.integers(0, 890_000))
            times += [at + i * 1000 for i in range(8)]
            scores += rng.normal(3.5, 0.5, 8).tolist()
    return sorted(zip(times, scores, strict=True))


def test_after_the_fraud_rate_jumps_alerts_stay_within_a_fifth_of_the_budget(
    redis_client: redis.Redis,
) -> None:
    """A day of warm-up and one of rare bursts, then three days of 8 frauds an hour in
    bursts against a budget of 4 alerts an hour: a threshold set before a burst lets it all
    through, and the calibration and the debt hold the alerts to the budget in both halves.
    The state stays a window's worth."""
    rng = np.random.default_rng(0)
    days = [bursty_day(rng, d * 24 * HOUR_MS, 0.2 if d < 2 else 1.0) for d in range(5)]
    rows = [r for day in days for r in day]
    when = np.array([t for t, _s in rows], dtype=np.int64)
    scores = np.array([s for _t, s in rows])
    assert sum(1 for day in days[2:] for _t, s in day if s > 2) / 72 > 4  # frauds > budget
    shard = shard_of(redis_client, 0, 4, 86_400)
    alerted = np.concatenate(
        [shard.judge(scores[i : i + 16], when[i : i + 16]) for i in range(0, len(rows), 16)]
    )
    low = alerted[(when >= 24 * HOUR_MS) & (when < 48 * HOUR_MS)].sum() / 24
    high = alerted[when >= 48 * HOUR_MS].sum() / 72
    assert abs(low / 4 - 1) <= 0.2 and abs(high / 4 - 1) <= 0.2, (low, high)
    names, buckets = shard.budget.names, shard.budget.shape.buckets
    assert redis_client.hlen(names.budget_counts_key(0)) <= 3 * (buckets + 2)
    assert len(redis_client.keys("*:budget:v1:*")) <= buckets + 2
