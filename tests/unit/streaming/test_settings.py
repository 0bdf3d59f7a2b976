"""Settings and checkpoint checks of ``rtad stream`` (no Spark)."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from pydantic import ValidationError

from rtad.common.errors import RtadError
from rtad.streaming.job import prepare_checkpoint
from rtad.streaming.session import spark_conf
from rtad.streaming.settings import StreamSettings


def test_env_and_validation(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("RTAD_CHECKPOINT_DIR", str(tmp_path / "ck"))
    monkeypatch.setenv("RTAD_MAX_RECORDS_PER_BATCH", "500")
    settings = StreamSettings()
    assert settings.checkpoint_dir == tmp_path / "ck"
    assert settings.max_records_per_batch == 500
    with pytest.raises(ValidationError):
        StreamSettings(trigger_interval="soon")
    assert StreamSettings(trigger_interval="500 milliseconds").trigger_interval


def test_spark_conf_is_small_quiet_and_exports_metrics() -> None:
    conf = spark_conf(StreamSettings(shards=4, state_partitions=3))
    assert conf["spark.sql.shuffle.partitions"] == "3"
    assert conf["spark.ui.enabled"] == "false"
    assert conf["spark.metrics.namespace"] == "rtad"
    assert conf["spark.sql.streaming.metricsEnabled"] == "true"
    assert conf["spark.sql.streaming.stateStore.providerClass"].endswith(
        "RocksDBStateStoreProvider"
    )
    assert spark_conf(StreamSettings(ui_port=4040))["spark.ui.enabled"] == "true"


def test_missing_checkpoint_dir_is_created(tmp_path: Path) -> None:
    assert prepare_checkpoint(tmp_path / "a" / "b").is_dir()


def test_unusable_checkpoint_dir_is_one_clear_line(tmp_path: Path) -> None:
    a_file = tmp_path / "file"
    a_file.write_text("x")
    with pytest.raises(RtadError, match="not a directory"):
        prepare_checkpoint(a_file)
    locked = tmp_path / "locked"
    locked.mkdir()
    locked.chmod(0)
    try:
        if os.access(locked, os.W_OK):  # root reads everything: use a path under a file
            with pytest.raises(RtadError, match="cannot create|not a directory"):
                prepare_checkpoint(a_file / "sub")
        else:
            with pytest.raises(RtadError, match="not readable"):
                prepare_checkpoint(locked)
    finally:
        locked.chmod(0o700)


def test_fewer_buckets_than_state_tasks_is_refused_in_one_line() -> None:
    with pytest.raises(ValidationError, match="some tasks would have no cards"):
        StreamSettings(state_buckets=2, state_partitions=4)
    assert StreamSettings(state_buckets=8, state_partitions=4).state_buckets == 8
