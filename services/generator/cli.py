"""Entrypoints of the generator container: ``rtad generate``, ``rtad replay``, ``rtad export``."""

from __future__ import annotations

import logging
import secrets
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

from rtad.common.errors import RtadError

if TYPE_CHECKING:
    from rtad.generator.simulator import SimConfig

SCENARIOS_HELP = (
    "Fraud mix as name=weight,... (weights are shares of fraudulent records); "
    "names: card_testing, account_takeover, impossible_travel, amount_spike, "
    "compromised_merchant, atm_cashout. Default: all, equal shares."
)


def generate(
    out: Annotated[
        Path | None, typer.Option(help="Write a .jsonl or .parquet file instead of Redis.")
    ] = None,
    rate: Annotated[
        float | None, typer.Option(help="Transactions per second (wall time); default: max.")
    ] = None,
    count: Annotated[
        int | None,
        typer.Option(help="Stop after this many (default: 10000 to a file, unbounded to Redis)."),
    ] = None,
    seed: Annotated[
        int | None,
        typer.Option(
            help="Random seed: same seed, same data. Without it a fresh seed is drawn (and "
            "logged), so a restarted generator never repeats transaction ids."
        ),
    ] = None,
    fraud_rate: Annotated[float, typer.Option(help="Share of fraudulent transactions.")] = 0.01,
    customers: Annotated[int, typer.Option(help="Card holders simulated.")] = 500,
    merchants: Annotated[int, typer.Option(help="Merchants simulated.")] = 1000,
    amount_scale: Annotated[float, typer.Option(help="Multiplies every typical amount.")] = 1.0,
    scenarios: Annotated[str | None, typer.Option(help=SCENARIOS_HELP)] = None,
    start: Annotated[
        str, typer.Option(help="Simulated clock start: ISO date/time (UTC if no zone) or 'now'.")
    ] = "2026-01-05",
    metrics_port: Annotated[
        int | None, typer.Option(help="Serve Prometheus /metrics here (default RTAD_METRICS_PORT).")
    ] = None,
    investigators: Annotated[
        bool, typer.Option(help="Simulated investigators review alerts and write verdicts.")
    ] = False,
    capacity: Annotated[
        int, typer.Option(help="Alerts the investigators review a day of event time.")
    ] = 100,
    analyst_delay: Annotated[
        float, typer.Option(help="Days of event time from an alert to its verdict.")
    ] = 1.0,
    chargeback_delay: Annotated[
        float, typer.Option(help="Days of event time from a missed fraud to its chargeback.")
    ] = 7.0,
) -> None:
    """Simulated card transactions (with labelled fraud scenarios) to the streams or a file."""
    from rtad.common.stopping import stop_on_signals
    from rtad.generator import metrics
    from rtad.generator.runner import run_generate, stream_sink
    from rtad.generator.settings import GeneratorSettings
    from rtad.generator.sinks import open_file_sink

    if count is None and out is not None:
        count = 10_000
    if seed is None:
        seed = secrets.randbelow(2**31)
        logging.getLogger(__name__).info(
            "rtad generate: seed %d (--seed %d repeats this data)", seed, seed
        )
    config = sim_config(
        seed=seed,
        count=count,
        customers=customers,
        merchants=merchants,
        fraud_rate=fraud_rate,
        amount_scale=amount_scale,
        scenarios=parse_scenarios(scenarios),
        start=parse_start(start),
    )
    settings = GeneratorSettings()
    metrics.serve(settings.metrics_port if metrics_port is None else metrics_port)
    desk = investigator_desk(capacity, analyst_delay, chargeback_delay) if investigators else None
    if desk is not None and out is not None:
        raise RtadError("--investigators review the scorer's alerts: use the streams, not --out")
    with stop_on_signals() as stop:
        sink = open_file_sink(out) if out is not None else stream_sink(settings, "generate", stop)
        if desk is not None:
            sink = investigating(sink, desk, settings)
        summary = run_generate(config, sink, rate=rate, stop=stop)
    where = out if out is not None else f"{settings.redis_url_masked} ({settings.shards} shards)"
    typer.echo(
        f"generated {summary.records} transactions ({summary.fraud} fraudulent) to {where} "
        f"in {summary.seconds:.1f}s ({summary.per_second:,.0f}/s)",
        err=True,
    )
    if desk is not None:
        c = desk.counts
        typer.echo(
            f"investigators: {c.alerts} alerts seen, {c.reviewed} reviewed, "
            f"{c.chargebacks} chargebacks"
            + (f", {c.forgotten} frauds forgotten (nothing scored them)" if c.forgotten else ""),
            err=True,
        )


def investigator_desk(capacity: int, analyst_days: float, chargeback_days: float) -> Any:
    """The simulated investigators' desk; an impossible option is one line."""
    from datetime import timedelta

    from rtad.generator.investigators import InvestigatorConfig, Investigators

    try:
        config = InvestigatorConfig(
            capacity, timedelta(days=analyst_days), timedelta(days=chargeback_days)
        )
    except ValueError as exc:
        raise RtadError(f"--investigators: {exc}") from None
    return Investigators(config)


def investigating(sink: Any, desk: Any, settings: Any) -> Any:
    """``sink`` wrapped so the investigators see every record and write their verdicts."""
    from rtad.common.redis_streams import connect
    from rtad.generator.investigator_feed import InvestigatingSink, InvestigatorFeed

    client = connect(settings.redis_url.get_secret_value())
    feed = InvestigatorFeed(client, desk, labels_producer(client, settings))
    return InvestigatingSink(sink, feed)


def sim_config(**options: Any) -> SimConfig:
    """The simulator's config; an impossible option is one line saying which and why."""
    from rtad.generator.simulator import SimConfig

    if options.get("count") is not None and options["count"] < 0:
        raise RtadError("--count must be >= 0")
    try:
        return SimConfig(**options)
    except ValueError as exc:
        raise RtadError(str(exc)) from None


def parse_scenarios(text: str | None) -> dict[str, float]:
    """``"card_testing=2,atm_cashout=1"`` → weights; None → every scenario, equal weights."""
    from rtad.generator.scenarios import SCENARIOS

    if not text:
        return dict.fromkeys(SCENARIOS, 1.0)
    weights: dict[str, float] = {}
    for part in text.split(","):
        name, sep, value = part.strip().partition("=")
        try:
            weights[name.strip()] = float(value) if sep else 1.0
        except ValueError:
            raise RtadError(f"--scenarios: weight of {name!r} is not a number: {value!r}") from None
        if weights[name.strip()] < 0:
            raise RtadError(f"--scenarios: weight of {name!r} is negative")
    return weights


def parse_start(text: str) -> datetime:
    """``now``, a date or an ISO date-time; a time without zone is UTC."""
    if text == "now":
        return datetime.now(UTC).replace(microsecond=0)
    try:
        value = datetime.fromisoformat(text)
    except ValueError:
        raise RtadError(f"--start {text!r} is not an ISO date/time or 'now'") from None
    return value if value.tzinfo else value.replace(tzinfo=UTC)


def replay(
    file: Annotated[Path, typer.Argument(help="JSONL, CSV or Parquet file of transactions.")],
    rate: Annotated[
        float | None, typer.Option(help="Records per second; default: as fast as possible.")
    ] = None,
    metrics_port: Annotated[
        int | None, typer.Option(help="Serve Prometheus /metrics here (default RTAD_METRICS_PORT).")
    ] = None,
) -> None:
    """Validate a file of transaction records and write it to the input streams."""
    from rtad.common.readers import format_of
    from rtad.common.stopping import stop_on_signals
    from rtad.generator import metrics
    from rtad.generator.progress import print_replay_summary, progress_bar
    from rtad.generator.replay import replay_file
    from rtad.generator.runner import stream_producer
    from rtad.generator.settings import GeneratorSettings

    format_of(file)  # a missing file or unknown extension fails before connecting
    settings = GeneratorSettings()
    metrics.serve(settings.metrics_port if metrics_port is None else metrics_port)
    with stop_on_signals() as stop:
        producer = stream_producer(settings, attempts=2, stop=stop)
        with progress_bar(file) as on_progress:
            summary = replay_file(file, producer, rate=rate, stop=stop, on_progress=on_progress)
    print_replay_summary(file, summary, stopped=stop.is_set())


def label(
    file: Annotated[Path, typer.Argument(help="JSONL or CSV file of verdicts (labels).")],
) -> None:
    """Validate a file of verdicts and write it to the labels stream (bad rows dead-lettered)."""
    from rtad.common.label_files import read_labels
    from rtad.common.redis_streams import connect
    from rtad.generator.label_file import send_labels
    from rtad.generator.settings import GeneratorSettings

    items = read_labels(file)  # a missing file or unknown extension fails before connecting
    settings = GeneratorSettings()
    producer = labels_producer(connect(settings.redis_url.get_secret_value(), attempts=2), settings)
    summary = send_labels(items, producer, str(file))
    typer.echo(summary.line(file), err=True)
    if summary.written == 0 and summary.deadlettered:
        raise RtadError(f"{file.name}: no valid label (first: {summary.first_error})")


def labels_producer(client: Any, settings: Any) -> Any:
    """A producer into the labels stream: labels are kept (the training set), never trimmed,
    so the backlog high-water mark is far above any label count."""
    from rtad.common.redis_streams import StreamProducer

    return StreamProducer(client, settings.streams, "labels", high_water=1 << 40)


def export(
    what: Annotated[str, typer.Argument(help="tx, features, scores, alerts, deadletter, labels")],
    out: Annotated[Path, typer.Option(help="JSONL file to write.")],
) -> None:
    """Dump a stream (all shards) to JSONL, one decoded object per entry (with id and shard)."""
    from rtad.common.redis_streams import connect
    from rtad.generator.export import check_kind, export_to_file
    from rtad.generator.settings import GeneratorSettings

    kind = check_kind(what)
    settings = GeneratorSettings()
    client = connect(settings.redis_url.get_secret_value(), attempts=2)
    written = export_to_file(client, settings.streams, kind, out)
    typer.echo(
        f"exported {written} {kind} entries from {settings.shards} shards to {out}", err=True
    )
