"""The benchmark renderer: results files in, docs/benchmarks.md and the README's tables out."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from tests.benchmarks import render, results

README = """# rtad

<!-- bench:detection:start -->
| stale | detection |
<!-- bench:detection:end -->

text between

<!-- bench:performance:start -->
stale performance 999,999 rows/s
<!-- bench:performance:end -->
"""

DETECTION = [
    {
        "variant": "large population",
        "count": 150_000,
        "cards": 2_500,
        "frauds": 740,
        "ap": 0.70712,
        "recall_1pct": 0.65811,
        "per_scenario": {"atm_cashout": 1.0, "amount_spike": 0.1},
    }
]

REPLAY = [
    {
        "what": "rtad replay JSONL",
        "how": "validate + encode + XADD, 4 shards",
        "records": 200_000,
        "per_second_best": 123_456.7,
        "per_second_median": 100_000.0,
        "cpu_us_per_record": 4.71,
    }
]


@pytest.fixture
def tree(tmp_path: Path) -> tuple[Path, Path, Path]:
    results_dir = tmp_path / "docs" / "benchmarks" / "results"
    results.write("detection", DETECTION, {"variants": {}}, 0.5, directory=results_dir)
    results.write("replay", REPLAY, {"records": 200_000, "repeat": 3}, 0.5, directory=results_dir)
    readme = tmp_path / "README.md"
    readme.write_text(README)
    return results_dir, readme, tmp_path / "docs" / "benchmarks.md"


def rendered(tree: tuple[Path, Path, Path]) -> tuple[str, str]:
    """Render ``tree``; the README's text and docs/benchmarks.md's."""
    results_dir, readme, benchmarks = tree
    render.render(results_dir, readme, benchmarks)
    return readme.read_text(), benchmarks.read_text()


def test_results_file_records_command_parameters_and_machine(tree: tuple[Path, Path, Path]) -> None:
    doc = results.read_all(tree[0])["replay"]
    assert doc["command"] == "python -m tests.benchmarks replay"
    assert doc["parameters"]["records"] == 200_000
    assert doc["machine"]["cores"] >= 1
    assert doc["machine"]["load_average_before"] == 0.5
    assert doc["figures"] == REPLAY


def test_readme_tables_carry_the_figures_and_stale_blocks_are_replaced(
    tree: tuple[Path, Path, Path],
) -> None:
    text, _ = rendered(tree)
    assert "stale" not in text and "999,999" not in text
    assert "| large population | 150,000 | 2,500 | 740 | 0.707 | 0.658 |" in text
    assert "123,457 records/s" in text  # the replay row of the performance table
    assert "not measured yet" in text  # no stream, scorer or pipeline results here
    assert "text between" in text
    assert text.count("<!-- bench:detection:start -->") == 1
    assert rendered(tree)[0] == text  # idempotent


def test_benchmarks_md_has_a_section_per_results_file(tree: tuple[Path, Path, Path]) -> None:
    _, text = rendered(tree)
    assert "`python -m tests.benchmarks detection`" in text
    assert "atm_cashout 1.00, amount_spike 0.10" in text
    assert "| rtad replay JSONL | validate + encode + XADD, 4 shards | 200,000 | 123,457 |" in text
    assert "load average 0.5" in text


def test_a_results_file_with_its_own_table_is_rendered_as_given(
    tree: tuple[Path, Path, Path],
) -> None:
    table = {"title": "Labels", "columns": ["week", "AP"], "rows": [[1, 0.4321], ["two", 0.5]]}
    results.write("labels", {"table": table}, {"weeks": 2}, directory=tree[0])
    _, text = rendered(tree)
    assert "## labels" in text
    assert "| 1 | 0.432 |" in text and "| two | 0.500 |" in text


def test_missing_markers_are_one_clear_error(tree: tuple[Path, Path, Path]) -> None:
    results_dir, readme, benchmarks = tree
    readme.write_text("# no markers\n")
    with pytest.raises(SystemExit, match="no <!-- bench:detection:start -->"):
        render.render(results_dir, readme, benchmarks)


def _stream_case(case: str, rows_per_s: int, median_s: float) -> dict:
    return {
        "case": case,
        "query": "features",
        "rows": 400_000,
        "cards": 20_000,
        "rows_per_card_per_batch": 5.0,
        "batches": 5,
        "first_batch_s": 6.1,
        "steady_rows_per_s": rows_per_s,
        "late_rows_per_s": rows_per_s - 1000,
        "batch_median_s": median_s,
        "batch_max_s": median_s + 0.1,
        "jvm_cpu_us_per_row": 13.5,
        "python_cpu_us_per_row": 18.2,
        "redis_cpu_us_per_row": 5.1,
    }


def test_every_performance_row_reads_its_results_file(tree: tuple[Path, Path, Path]) -> None:
    results_dir = tree[0]
    stream = [_stream_case("features, bulk", 63_898, 1.35)]
    stream.append(_stream_case("features, real time", 6_844, 0.26))
    results.write("stream", stream, {"master": "local[2]"}, 1.0, directory=results_dir)
    worker = {"variant": "rtad worker, batch 5000", "rows": 100_000, "rows_per_s": 110_093.0}
    worker |= {"batch_p50_ms": 40.0, "batch_p99_ms": 67.5, "cpu_us_per_row": 6.9}
    scorer = {"results": [worker], "cpu_us_per_row": {"decode": 2.01}}
    results.write("scorer", scorer, {"rows": 100_000}, 1.0, directory=results_dir)
    arm = {"throughput": 23_621.0, "usage": {"stream": [0.98, 3439.0]}, "p50_2000": 0.53}
    arm |= {"p99_2000": 0.92, "cpu_us_per_tx": {"stream": 41.9, "total": 72.0}}
    base = {"throughput": 22_113.0, "cpu_us_per_tx": {"baseline": 40.9, "total": 54.4}}
    pipeline = {"pipeline": arm, "baseline": base, "ratio": 23_621 / 22_113}
    results.write("pipeline", pipeline, {"records": 200_000}, 1.2, directory=results_dir)
    text, page = rendered(tree)
    assert "63,898 rows/s" in text and "median batch 0.26 s" in text
    assert "110,093 rows/s (batch 5000)" in text
    assert "23,621 tx/s (1.07x the one-process baseline)" in text
    assert "p50 0.53 s, p99 0.92 s" in text
    assert "not measured yet" not in text
    assert "| total | 72.0 | 54.4 |" in page and "| stream | 0.98 | 3,439 MiB |" in page


def test_feedback_tables_show_both_models_and_the_targets(tree: tuple[Path, Path, Path]) -> None:
    model = {"average_precision": 0.6769, "card_precision_at_100": 0.246, "recall_at_1.0%": 0.6356}
    challenger = {"average_precision": 0.918, "card_precision_at_100": 0.3707}
    challenger |= {"recall_at_1.0%": 0.8433, "recall_by_scenario": {"atm_cashout": 1.0}}
    targets = {"average_precision_gain": {"measured": 0.2411, "target": ">= 0.10", "met": True}}
    figures = {"champion": model, "challenger": challenger}
    extra = {"targets": targets}
    results.write("feedback", figures, {"capacity": 100}, directory=tree[0], extra=extra)
    _, text = rendered(tree)
    assert f"Measured on {os.cpu_count()} cores" in text
    assert "| champion | 0.677 | 0.246 | 0.636 |" in text
    assert "| challenger | 0.918 | 0.371 | 0.843 |" in text
    assert "| average_precision_gain | 0.241 | >= 0.10 | yes |" in text


def test_feedback_alternatives_show_each_way_with_its_lowest_scenario_and_trees(
    tree: tuple[Path, Path, Path],
) -> None:
    champion = {"average_precision": 0.6769, "card_precision_at_100": 0.246, "recall_at_1.0%": 0.6}
    champion |= {"recall_by_scenario": {"amount_spike": 0.097, "atm_cashout": 0.99}}
    decision = {"average_precision": 0.918, "card_precision_at_100": 0.371, "recall_at_1.0%": 0.84}
    decision |= {"recall_by_scenario": {"amount_spike": 0.361, "card_testing": 0.2}}
    extra = {"alternatives": {"a_new_way": decision | {"trees": 7}}}
    extra |= {"verdicts_by_day_30": {"verdict_rows": 900, "trees": 41}}
    figures = {"champion": champion, "challenger": decision}
    results.write("feedback", figures, {"capacity": 100}, directory=tree[0], extra=extra)
    _, text = rendered(tree)
    assert "**Alternatives (decision 0006)**" in text
    assert (
        "| the champion alone (unsupervised) | 0.677 | 0.246 | 0.600 | 0.097 (amount spike) | — |"
        in text
    )
    assert (
        "| the decision: verdicts + settled rows as genuine, features + champion score"
        " | 0.918 | 0.371 | 0.840 | 0.200 (card testing) | 41 |" in text
    )
    assert "| a_new_way | 0.918 | 0.371 | 0.840 | 0.200 (card testing) | 7 |" in text


def test_budget_tables_show_each_span_and_the_alternatives_of_decision_0007(
    tree: tuple[Path, Path, Path],
) -> None:
    span = {"budget_alerts_per_hour": 5.29, "budget_deviation": 0.058, "fixed_alerts_per_hour": 2.6}
    span |= {"budget_alerts_per_hour_by_day": [5.0, 6.5], "days_within_tolerance": 1}
    spans = {k: span for k in ("low_fraud_half", "high_fraud_half", "after_warm_up")}
    controller = {"worst_span_deviation": 0.077, "days_within_tolerance": 27, "days": 28}
    controller |= {"frauds_alerted_after_warm_up": {"10": 400, "5": 300}}
    controller |= {"frauds_after_warm_up": {"10": 800, "5": 800}}
    controller |= {"synthetic_high_half_mean": 0.04, "synthetic_high_half_max": 0.14}
    figures = {"by_budget": {"5": spans}, "alternatives": {"the decision": controller}}
    results.write("budget", figures, {"tolerance": 0.2}, directory=tree[0])
    _, text = rendered(tree)
    assert "| 5 | high fraud half | 5.29 | +5.8% | 2.60 | 1 of 2 |" in text
    assert "**Alternatives (decision 0007)**" in text
    assert (
        "| the decision | 7.7% | 27 of 28 | 50.0% at 10/h, 37.5% at 5/h | +4% (max +14%) |" in text
    )


def test_figures_are_provisional_when_the_machine_was_busy_before_the_run() -> None:
    from tests.benchmarks.render import loaded

    assert loaded(2, [2.5, 1.0])  # something else was running when it began
    assert not loaded(2, [0.4, 2.6])  # the benchmark's own processes loaded the machine
    assert not loaded(2, []) and not loaded(None, [5.0])
