"""What ``rtad up`` would run: commands, environment, ports, URLs, stop budget."""

from __future__ import annotations

import sys
from pathlib import Path

from rtad.cli.launch_plan import STOP_TIMEOUTS, plan_launch
from rtad.cli.prometheus_local import ScrapeTarget, scrape_config
from rtad.common.streams import StreamNames


def plan(tmp_path: Path, prometheus: str | None = "/usr/bin/prometheus", model: Path = Path("m")):
    return plan_launch(
        redis_url="redis://:pw@127.0.0.1:6399/0",
        run_dir=tmp_path,
        rate=500,
        port=8123,
        names=StreamNames("demo", 2),
        prometheus=prometheus,
        model=model,
    )


def test_children_in_stop_order_with_their_commands(tmp_path: Path) -> None:
    p = plan(tmp_path)
    assert [c.name for c in p.children] == ["generator", "stream", "scorer", "prometheus"]
    generator, stream, scorer, _ = (c.argv for c in p.children)
    assert generator[:4] == [sys.executable, "-m", "rtad.cli.main", "generate"]
    assert generator[generator.index("--rate") + 1] == "500"
    assert stream[stream.index("--master") + 1] == "local[2]"
    assert stream[stream.index("--checkpoint-dir") + 1] == str(tmp_path / "checkpoint")
    assert scorer[3:] == ["serve", "--port", "8123", "--model", str(Path("m").resolve())]


def test_every_child_points_at_the_pipeline_redis(tmp_path: Path) -> None:
    for child in plan(tmp_path).children[:3]:
        assert child.env is not None
        assert child.env["RTAD_REDIS_URL"] == "redis://:pw@127.0.0.1:6399/0"
        assert child.env["RTAD_SHARDS"] == "2"
        assert child.env["RTAD_STREAM_PREFIX"] == "demo"
        assert child.env["PYSPARK_PYTHON"] == sys.executable
        assert "RTAD_METRICS_PORT" not in child.env


def test_urls_and_masked_password(tmp_path: Path) -> None:
    p = plan(tmp_path)
    assert p.urls["live page"] == "http://127.0.0.1:8123/"
    assert p.urls["redis"] == "redis://:***@127.0.0.1:6399/0"
    assert p.urls["prometheus"].startswith("http://127.0.0.1:")
    ports = {u.rsplit(":", 1)[1].split("/")[0] for k, u in p.urls.items() if "metrics" in k}
    assert len(ports) == 3, "each exporter has its own port"


def test_without_prometheus(tmp_path: Path) -> None:
    p = plan(tmp_path, prometheus=None)
    assert [c.name for c in p.children] == ["generator", "stream", "scorer"]
    assert "prometheus" not in p.urls


def test_model_is_passed_as_an_absolute_path(tmp_path: Path) -> None:
    scorer = plan(tmp_path, model=Path("models/x")).children[2].argv
    assert scorer[-2:] == ["--model", str(Path("models/x").resolve())]


def test_stop_budget_fits_in_thirty_seconds() -> None:
    assert sum(STOP_TIMEOUTS.values()) < 28


def test_scrape_config_every_two_seconds() -> None:
    config = scrape_config([ScrapeTarget("spark", "127.0.0.1:4040", "/metrics/prometheus")])
    assert config["global"]["scrape_interval"] == "2s"
    job = config["scrape_configs"][0]
    assert job["metrics_path"] == "/metrics/prometheus"
    assert job["static_configs"] == [
        {"targets": ["127.0.0.1:4040"], "labels": {"service": "spark"}}
    ]
