"""The labels contract: verdicts on transactions, from analysts, chargebacks or simulation.

A label says whether a transaction was a fraud. It travels on the labels stream
``<prefix>:labels:{s}`` (sharded by ``user_id`` like every stream, see
:mod:`rtad.common.streams`), one entry per verdict, in the stream encoding version 1
(``v`` = ``1``, ``d`` = the label as compact JSON, :mod:`rtad.common.encoding`).

Fields: ``transaction_id``, ``user_id``, ``verdict`` (``fraud`` / ``genuine``), ``source``
(``analyst``, ``chargeback``, ``simulated``) and ``given_at`` (ISO 8601 with zone: when the
verdict was given; absent on input, it becomes the arrival time, :func:`with_arrival`). Every
entry written to the stream carries ``given_at``. The simulated investigators write their
reviews as ``simulated`` and the frauds they missed as ``chargeback``.

The stream is an append-only log: a verdict for a transaction nobody scored is kept (it is
still a training example), and a second verdict on the same transaction is appended too. The
latest one counts, once: every reader folds the log with :func:`latest_verdicts` (training
does, and so must any live consumer), so "latest wins" is enforced at one place, on read.

>>> label = decode_label_json(b'{"transaction_id":"t1","user_id":"u1","verdict":"fraud",'
...     b'"source":"analyst","given_at":"2026-01-06T09:00:00+00:00"}')
>>> label.verdict, label.is_fraud, label.given_at.isoformat()
('fraud', True, '2026-01-06T09:00:00+00:00')
>>> decode_label_json(b'{"transaction_id":"t1","user_id":"u1","verdict":"maybe",'
...     b'"source":"analyst"}')
Traceback (most recent call last):
rtad.common.labels.InvalidLabel: Invalid enum value 'maybe' - at `$.verdict`
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from datetime import UTC, datetime
from typing import Any, Literal

import msgspec

from rtad.common.schema import AwareTime, Id, describe_decode_error, describe_error

Verdict = Literal["fraud", "genuine"]
Source = Literal["analyst", "chargeback", "simulated"]
VERDICTS: tuple[Verdict, ...] = ("fraud", "genuine")
SOURCES: tuple[Source, ...] = ("analyst", "chargeback", "simulated")
LABEL_FIELDS: tuple[str, ...] = ("transaction_id", "user_id", "verdict", "source", "given_at")
#: The dead-letter ``stage`` of a refused label.
STAGE = "labels"


class InvalidLabel(ValueError):
    """A label that does not satisfy the contract; ``str()`` is the one-line reason."""


class Label(msgspec.Struct, kw_only=True, omit_defaults=True, frozen=True):
    """One verdict on one transaction. Unknown extra fields are ignored."""

    transaction_id: Id
    user_id: Id
    verdict: Verdict
    source: Source
    given_at: AwareTime | None = None

    def __post_init__(self) -> None:
        if self.transaction_id.isspace() or self.user_id.isspace():
            blank = "transaction_id" if self.transaction_id.isspace() else "user_id"
            raise ValueError(f"{blank} must not be blank")

    @property
    def is_fraud(self) -> bool:
        return self.verdict == "fraud"


_decoder = msgspec.json.Decoder(Label)
_encoder = msgspec.json.Encoder()


def decode_label_json(data: bytes | str) -> Label:
    """Parse and validate one JSON label; raises :class:`InvalidLabel` (one line)."""
    try:
        return _decoder.decode(data)
    except ValueError as exc:  # msgspec's errors and __post_init__'s
        raise InvalidLabel(describe_decode_error(exc)) from None


def label_from_mapping(row: Mapping[str, Any]) -> Label:
    """Validate a mapping of strings (a CSV row); an empty cell means "absent"."""
    clean = {k: v for k, v in row.items() if k in _FIELD_SET and v is not None and v != ""}
    try:
        return msgspec.convert(clean, Label, strict=False)
    except (msgspec.ValidationError, ValueError, TypeError) as exc:
        raise InvalidLabel(describe_error(exc)) from None


_FIELD_SET = frozenset(LABEL_FIELDS)


def with_arrival(label: Label, arrived: datetime) -> Label:
    """``label`` with ``given_at`` set to ``arrived`` when it had none."""
    if label.given_at is not None:
        return label
    return msgspec.structs.replace(label, given_at=arrived.astimezone(UTC))


def encode_label(label: Label) -> bytes:
    """The ``d`` payload of a labels stream entry (compact JSON)."""
    return _encoder.encode(label)


def decode_label_entry(entry_id: bytes | str, fields: Mapping[Any, Any]) -> Label:
    """A labels stream entry as a :class:`Label`, ``given_at`` defaulting to the entry's time.

    Raises :class:`InvalidLabel` (a foreign or corrupt entry), one line.
    """
    from rtad.common.encoding import UndecodableEntry, payload_of

    try:
        label = decode_label_json(payload_of(fields))
    except UndecodableEntry as exc:
        raise InvalidLabel(str(exc)) from None
    text = entry_id.decode() if isinstance(entry_id, bytes) else entry_id
    millis = int(text.partition("-")[0])
    return with_arrival(label, datetime.fromtimestamp(millis / 1000, UTC))


def latest_verdicts(labels: Iterable[Label]) -> dict[str, Label]:
    """One label per transaction: the latest ``given_at`` wins, ties go to the later one read.

    >>> from datetime import datetime, UTC
    >>> a = Label(transaction_id="t", user_id="u", verdict="genuine", source="analyst",
    ...     given_at=datetime(2026, 1, 1, tzinfo=UTC))
    >>> b = msgspec.structs.replace(a, verdict="fraud", source="chargeback",
    ...     given_at=datetime(2026, 1, 8, tzinfo=UTC))
    >>> latest_verdicts([b, a])["t"].verdict
    'fraud'
    """
    latest: dict[str, Label] = {}
    for label in labels:
        seen = latest.get(label.transaction_id)
        if seen is None or _when(label) >= _when(seen):
            latest[label.transaction_id] = label
    return latest


_NEVER = datetime.min.replace(tzinfo=UTC)


def _when(label: Label) -> datetime:
    return label.given_at or _NEVER
