"""``POST /v1/labels``: analysts' verdicts into the labels stream (API key required).

The body is ``{"labels": [<label>, ...]}``, 1 to :data:`MAX_LABELS` labels, each validated by
the labels contract itself (:mod:`rtad.common.labels`: the same rules, and the same one-line
reasons, as ``rtad label FILE`` and the stream's readers); the document's schema of a label is
generated from that contract too.

A batch is all or nothing: when any label is invalid nothing is written and the answer is 422
with one reason per bad label (``errors[].loc`` = ``labels[i]``). The caller is there to read
the reasons and resend, so nothing is dead-lettered, and a resent batch cannot leave half of
itself written twice. A valid batch is appended, each label to the labels stream of its card's
shard (``<prefix>:labels:{s}``, :mod:`rtad.common.streams`) with ``given_at`` set to the
arrival time when absent, and the answer is 202 with the number accepted. Verdicts on
transactions nobody has scored are accepted (they are training examples); a verdict repeated
is appended again, and readers keep the latest (:func:`rtad.common.labels.latest_verdicts`).
"""

from __future__ import annotations

import email.message
from collections import Counter
from datetime import UTC, datetime
from typing import Annotated, Any

import msgspec
import redis
import redis.asyncio as aioredis
from fastapi import APIRouter, HTTPException, Request, status
from fastapi.responses import JSONResponse

from rtad.common.encoding import encode_raw
from rtad.common.labels import InvalidLabel, Label, decode_label_json, encode_label, with_arrival
from rtad.common.streams import StreamNames
from rtad.scorer import metrics
from rtad.scorer.api.deps import AdminDep, RedisDep, SettingsDep
from rtad.scorer.api.problems import problem, problem_responses
from rtad.scorer.api.schemas import LabelsAccepted

router = APIRouter(prefix="/v1", tags=["labels"])

#: Labels per request at most (the body limit, ``RTAD_MAX_BODY_BYTES``, applies as well).
MAX_LABELS = 1000
REF = "#/components/schemas/{name}"
#: An id must hold a character that is not blank (the contract refuses ids that are all
#: ``str.isspace``). Spelled out: ``\S`` differs between Python and the ECMA-262 regexes of
#: JSON Schema (U+001C-U+001F, U+0085, U+FEFF).
NOT_BLANK = r"[^\t\n\x0b\x0c\r\x1c-\x20\x85\xa0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000]"


class LabelBatch(msgspec.Struct, forbid_unknown_fields=True):
    """The body, before each label is validated on its own."""

    labels: Annotated[list[msgspec.Raw], msgspec.Meta(min_length=1, max_length=MAX_LABELS)]


_batch_decoder = msgspec.json.Decoder(LabelBatch)


def label_schemas() -> dict[str, Any]:
    """The OpenAPI components ``Label`` (from the contract) and ``LabelsRequest``."""
    _, components = msgspec.json.schema_components([Label], ref_template=REF)
    label = components["Label"]
    for name in ("transaction_id", "user_id"):
        label["properties"][name]["pattern"] = NOT_BLANK
    batch = {
        "title": "LabelsRequest",
        "description": f"1 to {MAX_LABELS} verdicts; all are written, or none.",
        "type": "object",
        "properties": {
            "labels": {
                "type": "array",
                "items": {"$ref": REF.format(name="Label")},
                "minItems": 1,
                "maxItems": MAX_LABELS,
            }
        },
        "required": ["labels"],
        "additionalProperties": False,
    }
    return {"Label": label, "LabelsRequest": batch}


@router.post(
    "/labels",
    status_code=status.HTTP_202_ACCEPTED,
    response_model=LabelsAccepted,
    responses=problem_responses(503),
    openapi_extra={
        "requestBody": {
            "required": True,
            "content": {"application/json": {"schema": {"$ref": REF.format(name="LabelsRequest")}}},
        }
    },
)
async def post_labels(
    request: Request, _admin: AdminDep, client: RedisDep, settings: SettingsDep
) -> Any:
    """Append a batch of verdicts to the labels stream; all of them, or none (422).

    Needs the ``X-API-Key`` header (``RTAD_API_KEY``). A 503 (Redis away or refusing) may
    leave part of a valid batch written: sending it again is safe, a repeated verdict only
    appends what the latest already says.
    """
    labels, refused = parse_labels(_json_body(request, await request.body()))
    if refused:
        metrics.LABELS_REFUSED.inc(len(refused))
        return _refusal(refused)
    now = datetime.now(UTC)
    stamped = [with_arrival(label, now) for label in labels]
    await append_labels(client, settings.streams, stamped)
    for (source, verdict), count in Counter((x.source, x.verdict) for x in stamped).items():
        metrics.LABELS_RECEIVED.labels(source=source, verdict=verdict).inc(count)
    return LabelsAccepted(accepted=len(stamped))


def _json_body(request: Request, body: bytes) -> bytes:
    message = email.message.Message()
    message["content-type"] = request.headers.get("content-type", "application/json")
    subtype = message.get_content_subtype()
    if message.get_content_maintype() != "application" or not (
        subtype == "json" or subtype.endswith("+json")
    ):
        raise HTTPException(422, "body: expected Content-Type application/json")
    return body


def parse_labels(body: bytes) -> tuple[list[Label], dict[int, str]]:
    """The labels of a batch and ``{index: reason}`` of the bad ones (422 if the whole is bad).

    >>> parse_labels(b'{"labels": [{"transaction_id": "t", "user_id": "u", '
    ...     b'"verdict": "fraud", "source": "analyst"}, {"transaction_id": "t"}]}')[1]
    {1: 'Object missing required field `user_id`'}
    """
    try:
        batch = _batch_decoder.decode(body)
    except msgspec.ValidationError as exc:
        raise HTTPException(422, f"body: {_first_line(exc)}") from None
    except msgspec.DecodeError as exc:
        raise HTTPException(422, f"body: malformed JSON ({_first_line(exc)})") from None
    labels: list[Label] = []
    refused: dict[int, str] = {}
    for i, raw in enumerate(batch.labels):
        try:
            labels.append(decode_label_json(bytes(raw)))
        except InvalidLabel as exc:
            refused[i] = str(exc)
    return labels, refused


def _first_line(exc: Exception) -> str:
    return str(exc).splitlines()[0][:300] if str(exc) else type(exc).__name__


def _refusal(refused: dict[int, str]) -> JSONResponse:
    errors = [
        {"loc": f"labels[{i}]", "msg": reason, "type": "invalid_label"}
        for i, reason in sorted(refused.items())
    ]
    first = errors[0]
    more = f" (and {len(errors) - 1} more invalid labels)" if len(errors) > 1 else ""
    detail = f"{first['loc']}: {first['msg']}{more}; nothing was written"
    return problem(422, detail, errors)


async def append_labels(client: aioredis.Redis, names: StreamNames, labels: list[Label]) -> None:
    """XADD each label to its card's shard of the labels stream, in one pipeline.

    Redis refusing a write (out of memory, a key of another type) is a 503 like Redis away.
    """
    async with client.pipeline(transaction=False) as pipe:
        for label in labels:
            fields: Any = encode_raw(encode_label(label))
            pipe.xadd(names.for_user("labels", label.user_id), fields)
        try:
            await pipe.execute()
        except redis.ResponseError as exc:
            raise HTTPException(503, f"Redis refused the labels: {_first_line(exc)}") from None
