"""What the tests assert about the streams: every transaction scored exactly once."""

from __future__ import annotations

import collections

from rtad.common.encoding import decode
from rtad.common.streams import SCORER_GROUP
from tests.containers.deployment import Deployment, wait_for


def scored_ids(deployment: Deployment) -> collections.Counter[str]:
    assert deployment.redis is not None
    counts: collections.Counter[str] = collections.Counter()
    for key in deployment.names.all("scores"):
        for _id, fields in deployment.redis.xrange(key):
            counts[str(decode(fields)["transaction_id"])] += 1
    return counts


def count(deployment: Deployment, kind: str) -> int:
    assert deployment.redis is not None
    return sum(int(deployment.redis.xlen(key)) for key in deployment.names.all(kind))


def scorer_backlog(deployment: Deployment) -> int:
    """Feature entries the scorer group has not delivered or not acknowledged."""
    assert deployment.redis is not None
    total = 0
    for key in deployment.names.all("features"):
        for group in deployment.redis.xinfo_groups(key):
            if group["name"] in (SCORER_GROUP, SCORER_GROUP.encode()):
                total += int(group.get("lag") or 0) + int(group["pending"])
    return total


def assert_exactly_once(deployment: Deployment, timeout: float = 300) -> int:
    """Stop the generator, let the pipeline drain, compare every written id with the scores;
    start the generator again. Returns how many transactions were compared."""
    cluster, audit = deployment.cluster, deployment.audit
    assert audit is not None
    generator = "rtad-generator-0"
    stopped = cluster.stop(generator)
    assert stopped.exit_code == 0, f"generator exit {stopped.exit_code}:\n{stopped.logs}"
    wait_for(lambda: audit.backlog() == 0, 60, "the audit to read every transaction", cluster)
    written = len(audit.seen)
    wait_for(
        lambda: count(deployment, "scores") >= written and scorer_backlog(deployment) == 0,
        timeout,
        f"{written} scores",
        cluster,
    )
    scored = scored_ids(deployment)
    missing = set(audit.seen) - set(scored)
    doubled = {tx: n for tx, n in scored.items() if n > 1}
    unknown = set(scored) - set(audit.seen)
    assert not missing, f"{len(missing)} transactions never scored, e.g. {sorted(missing)[:5]}"
    assert not doubled, f"{len(doubled)} transactions scored twice, e.g. {list(doubled)[:5]}"
    assert not unknown, f"{len(unknown)} scores of unknown transactions"
    assert max(audit.seen.values()) == 1, "the generator wrote a transaction id twice"
    cluster.restart(generator)
    return written
