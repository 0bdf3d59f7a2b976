"""``rtad train`` and ``rtad compare``."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer


def train(
    data: Annotated[Path, typer.Option(help="Transaction file (JSONL, CSV or Parquet).")],
    out: Annotated[Path, typer.Option(help="Artifact directory to write.")],
    detector: Annotated[
        str | None,
        typer.Option(help="Detector name (default: the comparison's champion, card_tails)."),
    ] = None,
    alert_rate: Annotated[
        float, typer.Option(help="Share of transactions the threshold alerts on.")
    ] = 0.005,
    seed: Annotated[int, typer.Option(help="Random seed of the detector.")] = 0,
    comparison: Annotated[
        Path | None,
        typer.Option(help="comparison.json whose held-out figures go into the model card."),
    ] = None,
    labels: Annotated[
        str | None,
        typer.Option(
            help="Verdicts (JSONL/CSV file, or 'stream' for the labels stream): train a "
            "challenger on them, the transactions and the --champion's score."
        ),
    ] = None,
    champion: Annotated[
        Path, typer.Option(help="With --labels: the champion whose score the challenger uses.")
    ] = Path("models/champion"),
    chargeback_days: Annotated[
        float,
        typer.Option(min=0.0, help="With --labels: days after which a fraud is charged back."),
    ] = 7.0,
) -> None:
    """Fit a detector on a transaction file and write the artifact and its model card."""
    if labels is not None:
        from rtad.ml.feedback_train import train_challenger

        card = train_challenger(data, labels, champion, out, None, chargeback_days, seed)
        t = card["training"]
        typer.echo(
            f"wrote {out}: challenger on {t['training_rows']:,} transactions "
            f"({t['verdict_rows']:,} with a verdict, {t['fraud_rows']:,} frauds), "
            f"feature set {card['feature_set']}"
        )
        return
    from rtad.ml.train import train as run

    card = run(data, out, detector, alert_rate, seed, comparison)
    typer.echo(
        f"wrote {out}: {card['detector']} on {card['training']['rows']:,} transactions, "
        f"threshold {card['threshold']:.4g} (alerts on {card['alert_rate']:.2%})"
    )


def compare(
    data: Annotated[
        Path | None, typer.Option(help="Labelled transaction file (JSONL, CSV, Parquet).")
    ] = None,
    out: Annotated[Path, typer.Option(help="Report directory.")] = Path("models/report"),
    detector: Annotated[
        list[str] | None, typer.Option(help="Only these detectors (repeatable; default: all).")
    ] = None,
    train_share: Annotated[float, typer.Option(help="Share of the period to train on.")] = 0.5,
    delay_share: Annotated[
        float, typer.Option(help="Share of the period skipped as feedback delay.")
    ] = 0.1,
    seed: Annotated[int, typer.Option(help="Random seed of the detectors.")] = 0,
    feedback_loop: Annotated[
        bool,
        typer.Option(
            help="Replay the feedback loop instead (investigators, verdicts, challenger "
            "retrained every --retrain-every days; --data or --days of generated data)."
        ),
    ] = False,
    days: Annotated[int, typer.Option(help="Feedback loop: days to generate.")] = 45,
    customers: Annotated[int, typer.Option(help="Feedback loop: card holders.")] = 2000,
    capacity: Annotated[int, typer.Option(help="Feedback loop: alerts reviewed a day.")] = 100,
    retrain_every: Annotated[int, typer.Option(help="Feedback loop: days between fits.")] = 3,
    train_days: Annotated[int, typer.Option(help="Feedback loop: holdout cut (day).")] = 30,
    champion: Annotated[
        Path, typer.Option(help="Feedback loop: the unsupervised champion.")
    ] = Path("models/champion"),
) -> None:
    """Compare detectors on a time-ordered split and write the report."""
    from rtad.common.errors import RtadError
    from rtad.ml.compare import TimeSplit
    from rtad.ml.compare import compare as run

    if feedback_loop:
        loop = (days, customers, capacity, retrain_every, train_days)
        _feedback_loop(data, out, champion, *loop, seed)
        return
    if data is None:
        raise RtadError("--data is required (a labelled transaction file)")
    if not (0 < train_share < 1 and 0 <= delay_share < 1 - train_share):
        raise RtadError("need 0 < --train-share < 1 and 0 <= --delay-share < 1 - train share")
    summary = run(data, out, detector, TimeSplit(train_share, delay_share), seed)
    best = summary["detectors"].get(summary["champion"], {})
    typer.echo(
        f"wrote {out}/comparison.md: champion {summary['champion']} "
        f"(AP {best.get('average_precision', 0):.3f}, "
        f"recall@1% {best.get('recall_at_1.0%', 0):.3f})"
    )


def _feedback_loop(
    data: Path | None,
    out: Path,
    champion: Path,
    days: int,
    customers: int,
    capacity: int,
    retrain_every: int,
    train_days: int,
    seed: int,
) -> None:
    import tempfile

    from rtad.common.errors import RtadError
    from rtad.ml.feedback_replay import LoopConfig
    from rtad.ml.feedback_report import generate_days, run

    if capacity < 1 or retrain_every < 1:
        raise RtadError("--capacity and --retrain-every must be >= 1")
    config = LoopConfig(
        capacity=capacity, retrain_every=retrain_every, train_days=train_days, seed=seed
    )
    with tempfile.TemporaryDirectory(prefix="rtad-feedback-") as work:
        if data is None:
            target = Path(work) / f"feedback-seed{seed}.parquet"
            data = generate_days(target, days, customers, seed, 0.01)
        report = run(data, champion, out, config)
    h = report["holdout"]
    typer.echo(
        f"wrote {out}/feedback_loop.md: AP champion {h['champion']['average_precision']:.3f} "
        f"challenger {h['challenger']['average_precision']:.3f}; CP@100 "
        f"{h['champion']['card_precision_at_100']:.3f} vs "
        f"{h['challenger']['card_precision_at_100']:.3f}"
    )
