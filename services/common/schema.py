"""The transaction record: the input contract of the pipeline (DESIGN.md "Transaction record").

Validation is strict and fast (msgspec, compiled): a record that fails it never enters
the pipeline; the caller dead-letters it with :func:`describe_error`'s one-line reason.

>>> tx = decode_json(b'{"transaction_id":"t1","timestamp":"2026-01-05T10:00:00+01:00",'
...     b'"user_id":"u1","merchant_id":"m1","amount":12.5,"currency":"EUR",'
...     b'"latitude":48.85,"longitude":2.35}')
>>> tx.amount, tx.timestamp.utcoffset().total_seconds()
(12.5, 3600.0)
"""

from __future__ import annotations

import math
from datetime import datetime
from functools import cache
from typing import Annotated, Any, Literal

import msgspec
import pycountry

#: Required fields, exact names (DESIGN.md).
REQUIRED_FIELDS: tuple[str, ...] = (
    "transaction_id",
    "timestamp",
    "user_id",
    "merchant_id",
    "amount",
    "currency",
    "latitude",
    "longitude",
)
OPTIONAL_FIELDS: tuple[str, ...] = (
    "merchant_category",
    "channel",
    "country",
    "is_fraud",
    "fraud_scenario",
)
ALL_FIELDS: tuple[str, ...] = REQUIRED_FIELDS + OPTIONAL_FIELDS

MAX_ID_LENGTH = 128
MAX_AMOUNT = 1e9

# "not blank" is checked in __post_init__: a regex pattern here would cost more than the rest
# of a record's validation
Id = Annotated[str, msgspec.Meta(min_length=1, max_length=MAX_ID_LENGTH)]
AwareTime = Annotated[datetime, msgspec.Meta(tz=True)]
# zero is a real transaction (an account verification; card testers use it), negative is not
Amount = Annotated[float, msgspec.Meta(ge=0, le=MAX_AMOUNT)]
Latitude = Annotated[float, msgspec.Meta(ge=-90, le=90)]
Longitude = Annotated[float, msgspec.Meta(ge=-180, le=180)]
# the ISO 4217 check in __post_init__ also refuses what a pattern would (cheaper than a regex)
Currency = Annotated[str, msgspec.Meta(min_length=3, max_length=3)]
Channel = Literal["pos", "online", "atm"]


class InvalidRecord(ValueError):
    """A record that does not satisfy the contract; ``str()`` is the one-line reason."""


@cache
def iso4217_codes() -> frozenset[str]:
    """Active ISO 4217 currency codes (from pycountry's bundled database)."""
    return frozenset(c.alpha_3 for c in pycountry.currencies)


class Transaction(msgspec.Struct, kw_only=True, omit_defaults=True, forbid_unknown_fields=False):
    """One card transaction. Unknown extra fields are ignored, so real exports load as they are."""

    transaction_id: Id
    timestamp: AwareTime
    user_id: Id
    merchant_id: Id
    amount: Amount
    currency: Currency
    latitude: Latitude
    longitude: Longitude
    merchant_category: Annotated[str, msgspec.Meta(max_length=MAX_ID_LENGTH)] | None = None
    channel: Channel | None = None
    country: Annotated[str, msgspec.Meta(min_length=2, max_length=3)] | None = None
    is_fraud: Annotated[int, msgspec.Meta(ge=0, le=1)] | None = None
    fraud_scenario: Annotated[str, msgspec.Meta(max_length=MAX_ID_LENGTH)] | None = None

    def __post_init__(self) -> None:
        # Runs for every record (one Python call each): kept to plain attribute tests.
        if self.transaction_id.isspace() or self.user_id.isspace() or self.merchant_id.isspace():
            raise ValueError(_blank_id(self))
        # Meta(ge=0, le=...) already refuses NaN; infinity is refused by le. Kept explicit
        # because a CSV cell "inf" must never reach the features.
        if not math.isfinite(self.amount):
            raise ValueError("amount must be finite")
        if self.currency not in iso4217_codes():
            raise ValueError(f"currency {self.currency!r} is not an ISO 4217 code")


def _blank_id(tx: Transaction) -> str:
    blank = next(n for n in _ID_FIELDS if getattr(tx, n).isspace())
    return f"{blank} must not be blank"


_ID_FIELDS = ("transaction_id", "user_id", "merchant_id")
_json_decoder = msgspec.json.Decoder(Transaction)
_json_encoder = msgspec.json.Encoder()


def describe_error(exc: Exception) -> str:
    """One line, no traceback: what is wrong with the record."""
    text = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
    return text[:300]


def describe_decode_error(exc: ValueError) -> str:
    """:func:`describe_error` of a failed JSON decode, saying so when the text is not JSON."""
    if isinstance(exc, msgspec.DecodeError) and not isinstance(exc, msgspec.ValidationError):
        return f"malformed JSON: {describe_error(exc)}"
    return describe_error(exc)


def decode_json(data: bytes | str) -> Transaction:
    """Parse and validate one JSON object; raises :class:`InvalidRecord`."""
    try:
        return _json_decoder.decode(data)
    except ValueError as exc:  # msgspec's errors and __post_init__'s
        raise InvalidRecord(describe_decode_error(exc)) from None


def from_mapping(row: dict[str, Any]) -> Transaction:
    """Validate a mapping whose values may be strings (a CSV row) or native types (Parquet).

    Empty strings mean "absent" so that optional CSV columns may be blank.
    """
    clean = {k: v for k, v in row.items() if v is not None and v != "" and k in _FIELD_SET}
    stamp = clean.get("timestamp")
    if isinstance(stamp, datetime) and type(stamp) is not datetime:
        # pandas/pyarrow hand nanosecond timestamps over as pd.Timestamp (a datetime subclass
        # that msgspec does not take as is)
        convert = getattr(stamp, "to_pydatetime", None)
        clean["timestamp"] = convert(warn=False) if convert else stamp
    try:
        return msgspec.convert(clean, Transaction, strict=False)
    except (msgspec.ValidationError, ValueError, TypeError) as exc:
        raise InvalidRecord(describe_error(exc)) from None


_FIELD_SET = frozenset(ALL_FIELDS)


def to_json(tx: Transaction) -> bytes:
    """Compact JSON of a validated record (the payload of an input stream entry)."""
    return _json_encoder.encode(tx)


def to_dict(tx: Transaction) -> dict[str, Any]:
    """Plain dict with the timestamp as an ISO 8601 string."""
    return msgspec.to_builtins(tx)
