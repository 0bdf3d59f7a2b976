"""Promotion across replicas: the model roles in Redis, followed by every worker.

``POST /v1/model/promote`` swaps the pair of the replica that received it and records the
new roles in ``<prefix>:meta:model-roles`` (champion and challenger versions). Every worker
looks at that hash every few seconds and swaps its own pair when it holds the same two models
the other way round, between two batches like the first replica did.
"""

from __future__ import annotations

import logging

import redis

from rtad.common.streams import StreamNames
from rtad.scorer.model_holder import ModelHolder

log = logging.getLogger(__name__)


def publish_roles(client: redis.Redis, names: StreamNames, holder: ModelHolder) -> None:
    """Record the holder's pair as the deployment's roles."""
    client.hset(names.model_roles_key(), mapping=holder.roles())  # type: ignore[arg-type]


def follow_roles(client: redis.Redis, names: StreamNames, holder: ModelHolder) -> bool:
    """Promote locally when the recorded roles are this replica's pair swapped; True if so."""
    champion, challenger = holder.models
    if challenger is None or challenger.version == champion.version:
        return False
    raw = client.hgetall(names.model_roles_key())
    roles = {k.decode(): v.decode() for k, v in raw.items()}  # type: ignore[union-attr]
    swapped = {"champion": challenger.version, "challenger": champion.version}
    if roles != swapped:
        return False
    holder.promote()
    log.info("followed a promotion: champion is now %s", challenger.version)
    return True
