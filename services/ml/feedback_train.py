"""``rtad train --labels``: a challenger artifact from verdicts, transactions and the champion.

The challenger is saved like the champion (skops file + model card, :mod:`rtad.ml.model_store`)
and scores the same feature rows: its ``feature_names`` are the champion's, in the same order,
and its card names the ``feature_set`` (id of the streaming job's feature columns) it was
trained on, so a scorer can refuse it when the stream carries another set. ``is_fraud`` in the
transaction file is never read: only the verdicts teach the challenger.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import numpy as np

from rtad.common.errors import RtadError
from rtad.common.labels import InvalidLabel, Label, decode_label_entry, latest_verdicts

log = logging.getLogger(__name__)

#: ``--labels stream`` reads the labels stream of the configured deployment.
STREAM_SOURCE = "stream"


def load_labels(source: str) -> dict[str, Label]:
    """The latest verdict of each transaction, from a JSONL/CSV file or the labels stream."""
    labels = _stream_labels() if source == STREAM_SOURCE else _file_labels(Path(source))
    latest = latest_verdicts(labels)
    if not latest:
        raise RtadError(f"--labels {source}: no verdict to learn from")
    return latest


def _file_labels(path: Path) -> list[Label]:
    from rtad.common.label_files import read_labels

    good, bad, first = [], 0, ""
    for line, _raw, item in read_labels(path):
        if isinstance(item, Label):
            good.append(item)
        else:
            bad += 1
            first = first or f"line {line}: {item}"
    if bad:
        log.warning("%s: left out %d invalid label(s) (first: %s)", path.name, bad, first)
    return good


def _stream_labels() -> list[Label]:
    from rtad.common.redis_streams import connect, read_stream
    from rtad.common.settings import RtadSettings

    settings = RtadSettings()
    client = connect(settings.redis_url.get_secret_value(), attempts=2)
    return list(_decoded(read_stream(client, key) for key in settings.streams.all("labels")))


def _decoded(shards: Iterable[Iterable[tuple[bytes, Any]]]) -> Iterable[Label]:
    for shard in shards:
        for entry_id, fields in shard:
            try:
                yield decode_label_entry(entry_id, fields)
            except InvalidLabel as exc:
                log.warning("labels stream entry %s skipped: %s", entry_id.decode(), exc)


def train_challenger(
    data: Path,
    labels_source: str,
    champion_path: Path,
    out: Path,
    as_of: datetime | None = None,
    chargeback_days: float = 7.0,
    seed: int = 0,
) -> dict[str, Any]:
    """Fit the challenger as of ``as_of`` (default: :func:`training_cut`), save it, return
    its model card."""
    from rtad.common.feature_entry import feature_set_id
    from rtad.features.card_features import batch_features
    from rtad.features.table import FEATURE_COLUMNS
    from rtad.ml.data import load_transactions
    from rtad.ml.feedback import fit_challenger
    from rtad.ml.model_store import load_model, save_model

    champion = load_model(champion_path)
    labels = load_labels(labels_source)
    frame = batch_features(load_transactions(data))
    missing = [n for n in champion.feature_names if n not in frame]
    if missing:
        raise RtadError(f"{champion_path}: features {', '.join(missing)} are not computed here")
    X = frame[champion.feature_names].to_numpy(dtype=np.float64)
    cut = as_of or training_cut(frame, labels)
    method = champion.card.get("score_method", "neg_score_samples")
    try:
        model, counts = fit_challenger(
            X, frame, labels, cut, champion.estimator, method, timedelta(days=chargeback_days), seed
        )
    except ValueError as exc:
        raise RtadError(f"cannot train a challenger: {exc}") from None
    training = _training(frame, labels, labels_source, cut, chargeback_days, counts, seed)
    card = _card(model, champion, X, feature_set_id(FEATURE_COLUMNS), training)
    save_model(out, model, card)
    return card


def training_cut(frame: Any, labels: dict[str, Label]) -> datetime:
    """What is known now: the last transaction or the last verdict, whichever is later.

    Analysts' verdicts carry the wall-clock time they were given, often after the last
    transaction of the file trained on (a file of last week's traffic, labelled today):
    they all count, and every transaction older than the chargeback delay before the last
    verdict is settled.
    """
    last = frame["event_time"].max().to_pydatetime() + timedelta(microseconds=1)
    given = [label.given_at for label in labels.values() if label.given_at is not None]
    return max([last, *given])


def _card(
    model: Any, champion: Any, X: np.ndarray, feature_set: str, training: dict[str, Any]
) -> dict[str, Any]:
    """The challenger's model card: the champion's features and reasons, its own threshold."""
    from rtad.ml.model_store import suspicion
    from rtad.ml.train import _json_params, _library_versions, drift_reference

    scores = suspicion(model, "proba", X)
    alert_rate = float(champion.card.get("alert_rate", 0.005))
    return {
        "detector": "challenger",
        "detector_summary": "gradient boosting on verdicts + per-card features + champion score",
        "params": _json_params(model),
        "score_method": "proba",
        "supervised": True,
        "feature_names": champion.feature_names,
        "feature_set": feature_set,
        "threshold": float(np.quantile(scores, 1 - alert_rate)),
        "alert_rate": alert_rate,
        "champion_version": champion.version,
        "training": training,
        "libraries": _library_versions(),
        "reference": drift_reference(scores, X, champion.feature_names),
        "reason_reference": champion.card.get("reason_reference"),
        "version": f"challenger-{datetime.now(UTC):%Y%m%dT%H%M%SZ}",
    }


def _training(
    frame: Any,
    labels: dict[str, Label],
    source: str,
    cut: datetime,
    chargeback_days: float,
    counts: dict[str, int],
    seed: int,
) -> dict[str, Any]:
    by_source: dict[str, int] = {}
    for label in labels.values():
        key = f"{label.source}_{label.verdict}"
        by_source[key] = by_source.get(key, 0) + 1
    return {
        "labels": source if source == STREAM_SOURCE else Path(source).name,
        "verdicts": by_source,
        "as_of": cut.isoformat(),
        "chargeback_delay_days": chargeback_days,
        "from": frame["event_time"].min().isoformat(),
        "rows": len(frame),
        **counts,
        "seed": seed,
    }
