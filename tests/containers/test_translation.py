"""The harness' reading of the chart, without Docker: what each container would be run with."""

from __future__ import annotations

import doctest
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest

from tests.containers import kube_env, ports, quantity, queries
from tests.containers.chart import Release, parse, render
from tests.containers.docker_run import ContainerRun, Translator
from tests.containers.ports import PortPlan
from tests.containers.queries import dashboard_queries
from tests.containers.volumes import VolumeStore

pytestmark = pytest.mark.k8s


class _NamedVolumes(VolumeStore):
    """Names the Docker volumes without creating them."""

    def volume(self, name: str, fs_group: Any, mode: str) -> str:
        return f"{self.prefix}-{name}"


@pytest.fixture(scope="module")
def release() -> Release:
    return parse(render("rtad", "rtad", {}), "rtad")


def _runs(release: Release, tmp: Path) -> dict[str, ContainerRun]:
    volumes = _NamedVolumes("t", tmp / "files", "base")
    (tmp / "env").mkdir()
    translator = Translator(release, "t", "container:h", volumes, PortPlan(), tmp / "env", {})
    runs = {}
    for workload in release.workloads.values():
        for index in range(max(workload.replicas, 2)):
            for container in workload.spec["containers"]:
                run = translator.run(workload, index, container)
                runs[run.docker_name] = run
    return runs


def test_every_container_runs_restricted_and_bounded(release: Release, tmp_path: Path) -> None:
    runs = _runs(release, tmp_path)
    assert len(runs) >= 12
    for name, run in runs.items():
        args = run.args
        user = args[args.index("--user") + 1]
        assert not user.startswith("0"), name
        for flag in ("--read-only", "--cpus", "--memory", "--stop-timeout"):
            assert flag in args, (name, flag)
        assert args[args.index("--cap-drop") + 1] == "ALL", name
        assert "no-new-privileges" in args, name


def test_env_refs_and_var_expansion_are_resolved(release: Release, tmp_path: Path) -> None:
    runs = _runs(release, tmp_path)
    password = release.secrets["rtad-redis"]["redis-password"]
    env_file = Path(
        runs["t-rtad-scorer-0-scorer"].args[
            runs["t-rtad-scorer-0-scorer"].args.index("--env-file") + 1
        ]
    )
    env = dict(line.split("=", 1) for line in env_file.read_text().splitlines())
    assert env["RTAD_REDIS_URL"] == f"redis://:{password}@rtad-redis:6379/0"
    assert env["POD_NAME"] == "rtad-scorer-0"
    master = runs["t-rtad-spark-master-0-spark-master"]
    assert (
        master.args[master.args.index("--host") + 1]
        == master.ip
        == release.pod_ip("rtad-spark-master", 0)
    )


def test_a_second_replica_moves_to_a_free_port_and_its_args_follow(
    release: Release, tmp_path: Path
) -> None:
    runs = _runs(release, tmp_path)
    first, second = runs["t-rtad-scorer-0-scorer"], runs["t-rtad-scorer-1-scorer"]
    assert first.port("http") == 8000 and second.port("http") != 8000
    assert second.args[second.args.index("--port") + 1] == str(second.port("http"))
    hosts = release.service_hosts()
    assert hosts["rtad-scorer"] == first.ip and hosts["rtad-redis.rtad.svc"] != first.ip


def test_dashboard_queries_have_no_grafana_variable_left() -> None:
    queries = dashboard_queries("rtad", "20s")
    assert queries and not [q for q in queries if "$" in q.promql]


@pytest.mark.parametrize("module", [kube_env, ports, quantity, queries])
def test_examples_in_the_harness_docstrings(module: ModuleType) -> None:
    failures, tried = doctest.testmod(module)
    assert tried > 0 and failures == 0
