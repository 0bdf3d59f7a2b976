"""The tables of each benchmark's results file (see ``render.py`` for where they go).

A new benchmark gets its tables in one of two ways: a function in ``TABLES`` (results
document → list of :class:`Table`), or a ``table`` key in its results file (at the top or in
``figures``): ``{"title", "columns", "rows", "note"}`` or a list of them, rendered as given
(a file's own table wins over its function).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

Document = dict[str, Any]


@dataclass(frozen=True)
class Table:
    """One Markdown table: a title line, the header, the rows (cells already text)."""

    title: str
    columns: list[str]
    rows: list[list[str]]
    note: str = ""
    numeric: set[int] = field(default_factory=set)

    def markdown(self) -> str:
        align = ["---:" if i in self.numeric else "---" for i in range(len(self.columns))]
        lines = [f"| {' | '.join(self.columns)} |", f"|{'|'.join(align)}|"]
        lines += [f"| {' | '.join(row)} |" for row in self.rows]
        head = f"**{self.title}**\n\n" if self.title else ""
        tail = f"\n\n{self.note}" if self.note else ""
        return head + "\n".join(lines) + tail


def num(value: Any, digits: int = 0) -> str:
    """A figure as text: thousands separated, ``—`` when absent."""
    if value is None or value == "":
        return "—"
    if isinstance(value, str):
        return value
    return f"{value:,.{digits}f}"


# --- one function per benchmark: its results document → its tables -------------------------


def replay_tables(doc: Document) -> list[Table]:
    rows = [
        [
            r["what"],
            r["how"],
            num(r["records"]),
            num(r["per_second_best"]),
            num(r["per_second_median"]),
            num(r["cpu_us_per_record"], 1),
        ]
        for r in doc["figures"]
    ]
    repeat = doc["parameters"].get("repeat", "")
    columns = ["what", "how", "records", f"records/s (best of {repeat})", "median"]
    return [Table("", [*columns, "client CPU µs/record"], rows, numeric={2, 3, 4, 5})]


def stream_tables(doc: Document) -> list[Table]:
    rows = [
        [
            r.get("case", r["query"]),
            num(r["rows"]),
            num(r["cards"]),
            num(r["rows_per_card_per_batch"], 1),
            num(r["batches"]),
            num(r["first_batch_s"], 2),
            num(r["steady_rows_per_s"]),
            num(r["late_rows_per_s"]),
            num(r["batch_median_s"], 2),
            num(r["batch_max_s"], 2),
            f"{num(r['jvm_cpu_us_per_row'], 1)} / {num(r['python_cpu_us_per_row'], 1)}"
            f" / {num(r['redis_cpu_us_per_row'], 1)}",
        ]
        for r in doc["figures"]
    ]
    columns = ["query", "rows", "cards", "rows/card/batch", "batches", "first batch s"]
    columns += ["steady rows/s", "second half rows/s", "batch median s", "batch max s"]
    columns += ["CPU µs/row JVM / Python / Redis"]
    return [Table("", columns, rows, numeric=set(range(1, 10)))]


def scorer_tables(doc: Document) -> list[Table]:
    figures = doc["figures"]
    rows = [
        [
            r["variant"],
            num(r["rows"]),
            num(r["rows_per_s"]),
            num(r["batch_p50_ms"], 1),
            num(r["batch_p99_ms"], 1),
            num(r["cpu_us_per_row"], 1),
            r.get("thread_cpu_us_per_row") or "—",
            num(r.get("redis_cpu_us_per_row"), 1),
        ]
        for r in figures["results"]
    ]
    columns = ["variant", "rows", "rows/s", "batch p50 ms", "batch p99 ms", "worker CPU µs/row"]
    columns += ["main / read / shadow / commit thread", "redis-server CPU µs/row"]
    steps = [[step, num(us, 2)] for step, us in figures["cpu_us_per_row"].items()]
    return [
        Table("Worker throughput", columns, rows, numeric=set(range(1, 8))),
        Table("CPU of one 5k batch by step, in memory", ["step", "µs/row"], steps, numeric={1}),
    ]


def ml_tables(doc: Document) -> list[Table]:
    rows = [
        [
            r["what"],
            num(r["rows"]),
            num(r["rows_per_s"]),
            num(r.get("calls_per_s")),
            num(r.get("state_bytes")),
        ]
        for r in doc["figures"]
    ]
    columns = ["what", "rows", "rows/s", "calls/s", "state bytes"]
    return [Table("", columns, rows, numeric={1, 2, 3, 4})]


def detection_table(doc: Document, per_scenario: bool = True) -> Table:
    rows = []
    for r in doc["figures"]:
        row = [r["variant"], num(r["count"]), num(r["cards"]), num(r["frauds"])]
        row += [num(r["ap"], 3), num(r["recall_1pct"], 3)]
        if per_scenario:
            row.append(", ".join(f"{k} {v:.2f}" for k, v in r["per_scenario"].items()))
        rows.append(row)
    columns = ["data", "transactions", "cards", "frauds judged", "AP", "recall at 1 %"]
    return Table(
        "",
        columns + (["recall at 1 % per scenario"] if per_scenario else []),
        rows,
        numeric={1, 2, 3, 4, 5},
    )


def pipeline_tables(doc: Document) -> list[Table]:
    ours, base = doc["figures"]["pipeline"], doc["figures"]["baseline"]
    loads = sorted(int(k.split("_")[1]) for k in ours if k.startswith("p99_"))
    head = [
        [
            "throughput, tx/s (first write → last score)",
            num(ours["throughput"]),
            num(base["throughput"]),
        ],
        ["ratio", f"{doc['figures']['ratio']:.2f}x", "1x"],
    ]
    head += [
        [
            f"p50 / p99 ingest→score at {rate:,} tx/s offered",
            f"{ours[f'p50_{rate}']:.2f} s / {ours[f'p99_{rate}']:.2f} s",
            "",
        ]
        for rate in loads
    ]
    usage = [[name, num(c, 2), f"{num(m)} MiB"] for name, (c, m) in ours["usage"].items()]
    cpu_ours, cpu_base = ours["cpu_us_per_tx"], base["cpu_us_per_tx"]
    names = [n for n in [*cpu_ours, *cpu_base] if n != "total"]
    cpu = [[n, num(cpu_ours.get(n), 1), num(cpu_base.get(n), 1)] for n in dict.fromkeys(names)]
    cpu.append(["total", num(cpu_ours["total"], 1), num(cpu_base["total"], 1)])
    baseline = "one-process baseline (redis-py, dict features, Isolation Forest)"
    return [
        Table("Throughput and latency", ["", "rtad pipeline", baseline], head, numeric={1, 2}),
        Table(
            "Component use during the large replay",
            ["component", "CPU cores", "peak memory"],
            usage,
            numeric={1, 2},
        ),
        Table(
            "CPU µs a transaction, large file",
            ["part", "rtad pipeline", "baseline"],
            cpu,
            numeric={1, 2},
        ),
    ]


def feedback_tables(doc: Document) -> list[Table]:
    """Champion and challenger on the same verdicts, and the targets they are held to."""
    models = doc["figures"]
    rows = [
        [
            name,
            num(f.get("average_precision"), 3),
            num(f.get("card_precision_at_100"), 3),
            num(f.get("recall_at_1.0%"), 3),
        ]
        for name, f in models.items()
    ]
    columns = ["model", "AP", "CP@100 per day", "recall at 1 %"]
    scenarios = sorted({s for f in models.values() for s in f.get("recall_by_scenario", {})})
    per = [
        [s, *(num(f.get("recall_by_scenario", {}).get(s), 3) for f in models.values())]
        for s in scenarios
    ]
    targets = [
        [name, num(t.get("measured"), 3), str(t.get("target", "")), "yes" if t.get("met") else "no"]
        for name, t in doc.get("targets", {}).items()
    ]
    tables = [Table("", columns, rows, numeric={1, 2, 3})]
    if per:
        cells = ["scenario", *(f"recall at 1 %, {n}" for n in models)]
        tables.append(Table("Recall per scenario", cells, per, numeric={1, 2}))
    if targets:
        cells = ["target", "measured", "goal", "met"]
        tables.append(Table("Targets", cells, targets, numeric={1}))
    if doc.get("alternatives"):
        # the decision is the challenger above, with the trees its training counted
        trees = doc.get("verdicts_by_day_30", {}).get("trees")
        decision = {"decision": models.get("challenger", {}) | {"trees": trees}}
        tables.append(
            alternatives_table(decision | doc["alternatives"], models.get("champion", {}))
        )
    return tables


#: the training alternatives of decision 0006, as the feedback benchmark names them
ALTERNATIVES = {
    "decision": "the decision: verdicts + settled rows as genuine, features + champion score",
    "learning_rate_0.1": "the same at learning rate 0.1 (more trees)",
    "no_champion_score": "the same without the champion's score",
    "unlabelled_taken_as_genuine": "every unverdicted row as genuine, the last week's included",
    "verdicts_only": "the verdicts (and chargebacks) only",
    "every_label_known_upper_bound": "every true label known by day 30 (upper bound)",
    "early_challenger": "the decision, trained on day 10's verdicts",
    "early_no_champion": "the same without the champion's score, day 10",
}


def alternatives_table(alternatives: dict[str, Any], champion: dict[str, Any]) -> Table:
    """Decision 0006's alternatives on the same test days: figures, lowest scenario, trees."""

    def row(label: str, f: dict[str, Any]) -> list[str]:
        recall = f.get("recall_by_scenario", {})
        low = min(recall, key=recall.__getitem__) if recall else None
        return [
            label,
            num(f.get("average_precision"), 3),
            num(f.get("card_precision_at_100"), 3),
            num(f.get("recall_at_1.0%"), 3),
            f"{recall[low]:.3f} ({low.replace('_', ' ')})" if low else "—",
            num(f.get("trees")),
        ]

    rows = [row("the champion alone (unsupervised)", champion)]
    rows += [row(ALTERNATIVES.get(name, name), f) for name, f in alternatives.items()]
    columns = ["training rows and inputs", "AP", "CP@100 per day", "recall at 1 %",
               "lowest scenario recall", "trees"]  # fmt: skip
    return Table("Alternatives (decision 0006)", columns, rows, numeric={1, 2, 3, 5})


def budget_tables(doc: Document) -> list[Table]:
    """Alerts per hour per budget and span; decision 0007's controllers replayed."""
    tolerance = doc["parameters"].get("tolerance", 0.2)
    rows = []
    for budget, result in doc["figures"]["by_budget"].items():
        for span in ("low_fraud_half", "high_fraud_half", "after_warm_up"):
            r = result[span]
            days = len(r["budget_alerts_per_hour_by_day"])
            rows.append([
                budget, span.replace("_", " "), num(r["budget_alerts_per_hour"], 2),
                f"{r['budget_deviation']:+.1%}", num(r["fixed_alerts_per_hour"], 2),
                f"{r['days_within_tolerance']} of {days}",
            ])  # fmt: skip
    columns = ["budget / h", "span", "alerts / h", "vs budget", "fixed threshold / h",
               f"days within ±{tolerance:.0%}"]  # fmt: skip
    title = "Alerts per hour of event time, the first day (warm-up) left out"
    tables = [Table(title, columns, rows, numeric={0, 2, 4})]
    if doc["figures"].get("alternatives"):
        tables.append(budget_alternatives_table(doc["figures"]["alternatives"], tolerance))
    return tables


def budget_alternatives_table(alternatives: dict[str, Any], tolerance: float) -> Table:
    """Decision 0007's controllers on the benchmark's scores and on the synthetic bursts."""
    rows = []
    for label, f in alternatives.items():
        caught, frauds = f["frauds_alerted_after_warm_up"], f["frauds_after_warm_up"]
        recall = ", ".join(f"{caught[b] / max(frauds[b], 1):.1%} at {b}/h" for b in caught)
        rows.append([
            label, f"{f['worst_span_deviation']:.1%}",
            f"{f['days_within_tolerance']} of {f['days']}", recall,
            f"{f['synthetic_high_half_mean']:+.0%} (max {f['synthetic_high_half_max']:+.0%})",
        ])  # fmt: skip
    columns = ["correction of the rank", "worst span vs budget", f"days within ±{tolerance:.0%}",
               "fraud recall after warm-up", "synthetic bursts, high half"]  # fmt: skip
    note = (
        "Each controller replayed in Python on the scores above (per shard, batches of 16"
        " rows, each judged by the threshold read after the commit 1, 2 or 8 batches back)."
        " Worst span: the largest deviation from the budget of a span above, over budgets"
        " and lags; days and recall at a lag of 2 batches. Synthetic: 120 transactions an"
        " hour, bursts of 8 frauds of one card at 1 an hour and of 12 at 0.75 an hour from"
        " the third day, against 4 alerts an hour, 8 seeds each: the mean deviation over the"
        " last three days, and the largest."
    )
    return Table("Alternatives (decision 0007)", columns, rows, note, numeric={1})


TABLES: dict[str, Callable[[Document], list[Table]]] = {
    "detection": lambda doc: [detection_table(doc)],
    "pipeline": pipeline_tables,
    "stream": stream_tables,
    "scorer": scorer_tables,
    "replay": replay_tables,
    "ml": ml_tables,
    "feedback": feedback_tables,
    "budget": budget_tables,
}

#: title and one paragraph of each known benchmark, in the order docs/benchmarks.md shows them
ABOUT: dict[str, tuple[str, str]] = {
    "detection": (
        "Detection on data the system was not developed on",
        "A model is trained without labels on the first half (by event time) of a generated"
        " file; the later half is scored through the same feature code and judged against the"
        " generator's labels: Average Precision, recall at a 1 % alert budget, recall per fraud"
        " scenario. `tests/system/test_detection.py` asserts AP ≥ 0.6 and recall ≥ 0.6 for the"
        " streamed pipeline.",
    ),
    "pipeline": (
        "End to end: replay → Spark → scorer against a one-process baseline",
        "A large generated file is replayed as fast as possible through `rtad stream`"
        " (local[2]) and one `rtad serve`; throughput is transactions over first write → last"
        " score. Then fixed offered loads measure ingest → score latency. The baseline (redis-py,"
        " per-card features in dicts, an Isolation Forest; no state that survives a crash, no"
        " exactly-once, no scale-out) runs on the same file and broker in the same run.",
    ),
    "stream": (
        "Spark feature job",
        "One local[2] session; `reader→writer` is the Redis source straight into the feature"
        " writer (the plumbing's ceiling), the `features` queries are the real job in bulk"
        " (5 rows a card a batch), in real time (2k rows a batch, about one second of a"
        " 2k tx/s feed) and run on until every card's 32-transaction window is full. Steady ="
        " the batches after the first; CPU per row counts the whole query.",
    ),
    "scorer": (
        "Scorer",
        "One worker process drains real feature rows (simulated transactions through the"
        " feature code) with the champion model, beside the obvious batched loop (json, one"
        " command per entry), a naive per-entry loop and `model.score` alone (the ceiling).",
    ),
    "scorer-shadow": (
        "Scorer throughput with a challenger in shadow and the label consumer on",
        "One worker drains the same feature rows three ways, alternated round after round: the"
        " champion alone (`plain`); with the challenger `rtad train --labels` makes in shadow and"
        " the label consumer on (`shadow-challenger`); with a second copy of the champion in"
        " shadow (`shadow-same`: a challenger as costly as the champion, scored in full). At the"
        " scorer's default batch (`RTAD_BATCH_COUNT` = 1,000 rows a shard, every shard full, as"
        " under a backlog) and at a quarter of it. Target: a shadow arm keeps at least 80 % of"
        " the plain arm's rows/s.",
    ),
    "replay": (
        "Replay and generator into Redis",
        "`rtad replay` of JSONL, CSV and Parquet files and `rtad generate` into one private"
        " redis-server, beside `redis-benchmark` XADD and plain redis-py on the same server;"
        " every case repeated round after round so all see the same machine.",
    ),
    "feedback": (
        "Learning from analysts' verdicts",
        "Simulated investigators review the top alerts of each day up to their capacity and give"
        " verdicts after a delay; frauds they never saw come back as chargebacks later. A"
        " challenger trained on the verdicts gathered by day 30 is compared with the"
        " unsupervised champion on the following days.",
    ),
    "ml": (
        "Per-card features and the champion model",
        "Feature computation over a whole file, in micro-batches over all cards and per card,"
        " and the champion's scoring and reason codes, on simulated transactions.",
    ),
}


def tables_of(name: str, doc: Document) -> list[Table]:
    """The tables of one results document: its own ``table`` key, else its function."""
    figures = doc.get("figures")
    given = doc.get("table", figures.get("table") if isinstance(figures, dict) else None)
    if given is None:
        return TABLES[name](doc) if name in TABLES else []
    specs = given if isinstance(given, list) else [given]
    return [
        Table(
            spec.get("title", ""),
            [str(c) for c in spec["columns"]],
            [
                [c if isinstance(c, str) else num(c, 3 if isinstance(c, float) else 0) for c in row]
                for row in spec["rows"]
            ],
            spec.get("note", ""),
        )
        for spec in specs
    ]
