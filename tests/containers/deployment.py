"""The chart, rendered and running as containers on one loopback: what the tests drive."""

from __future__ import annotations

import shutil
import tempfile
import time
import uuid
from dataclasses import dataclass
from pathlib import Path

import redis

from rtad.common.streams import StreamNames
from tests.containers.audit import TransactionAudit
from tests.containers.chart import Release, Workload, parse, render
from tests.containers.cluster import Cluster
from tests.containers.docker import docker, docker_out
from tests.containers.docker_run import Translator
from tests.containers.images import BuiltImages
from tests.containers.podnet import PodNetwork
from tests.containers.ports import PortPlan
from tests.containers.probes import ProbeRunner
from tests.containers.prometheus import Prometheus, write_config
from tests.containers.volumes import VolumeStore

RELEASE = "rtad"
NAMESPACE = "rtad"
SCRAPE_INTERVAL = "5s"
#: Replicas the test runs: two scorers (what KEDA does under load), the chart's two workers.
SCORER_REPLICAS = 2


@dataclass
class Deployment:
    release: Release
    network: PodNetwork
    cluster: Cluster
    volumes: VolumeStore
    workdir: Path
    session: str
    redis: redis.Redis | None = None
    audit: TransactionAudit | None = None
    prometheus: Prometheus | None = None

    def workload(self, component: str) -> Workload:
        return self.release.workloads[f"{RELEASE}-{component}"]

    @property
    def names(self) -> StreamNames:
        env = {e["name"]: e.get("value") for e in _first_container(self.workload("scorer"))}
        return StreamNames(str(env["RTAD_STREAM_PREFIX"]), int(str(env["RTAD_SHARDS"])))

    def redis_password(self) -> str:
        secret = self.release.secrets[f"{RELEASE}-redis"]
        return next(iter(secret.values()))

    def start_prometheus(self) -> Prometheus:
        directory = self.workdir / "prometheus"
        directory.mkdir(exist_ok=True)
        self.prometheus = Prometheus(self.network, directory)
        self.prometheus.start(write_config(directory, self.cluster, self.release))
        return self.prometheus

    def save_logs(self) -> Path:
        """Every container's output, kept after the release is gone (for a failed run)."""
        directory = self.workdir.parent / f"rtad-ct-{self.session}-logs"
        directory.mkdir(exist_ok=True)
        for pod, runs in self.cluster.pods.items():
            for run in runs:
                logs = docker("logs", run.docker_name, check=False)
                before = self.cluster.previous_logs.get(run.docker_name, "")
                (directory / f"{pod}-{run.container['name']}.log").write_text(
                    before + logs.stdout + logs.stderr
                )
        if self.prometheus is not None:
            (directory / "prometheus.log").write_text(self.prometheus.tail())
        return directory

    def shutdown(self) -> None:
        print(f"\n[containers] container logs: {self.save_logs()}")
        if self.audit is not None:
            self.audit.stop()
        if self.prometheus is not None:
            self.prometheus.stop()
        self.cluster.shutdown()
        self.network.stop()
        self.volumes.remove_all()
        leftovers = docker_out("ps", "-aq", "--filter", f"label=rtad.ct={self.session}")
        for container in leftovers.split():
            docker("rm", "-f", container, check=False)
        shutil.rmtree(self.workdir, ignore_errors=True)


def _first_container(workload: Workload) -> list[dict[str, str]]:
    return workload.spec["containers"][0].get("env", [])  # type: ignore[no-any-return]


def create(images: BuiltImages) -> Deployment:
    """Render the chart and prepare its namespace; nothing runs yet."""
    overrides = {**images.values, "monitoring.interval": SCRAPE_INTERVAL}
    release = parse(render(RELEASE, NAMESPACE, overrides), NAMESPACE)
    session = uuid.uuid4().hex[:8]
    labels = {"rtad.ct": session}
    workdir = Path(tempfile.mkdtemp(prefix=f"rtad-ct-{session}-"))
    workdir.chmod(0o755)
    (workdir / "env").mkdir(mode=0o700)
    network = PodNetwork(f"rtad-ct-{session}-net", images.base, release.service_hosts(), labels)
    volumes = VolumeStore(f"rtad-ct-{session}", workdir / "files", images.base, labels)
    prefix = f"rtad-ct-{session}"
    translator = Translator(
        release, prefix, network.docker_network, volumes, PortPlan(), workdir / "env", labels
    )
    network.start()
    cluster = Cluster(release, translator, ProbeRunner(network))
    return Deployment(release, network, cluster, volumes, workdir, session)


def start_pipeline(deployment: Deployment) -> None:
    """Redis, the audit of its transactions, Spark, the scorers, then the generator."""
    cluster = deployment.cluster
    cluster.start(deployment.workload("redis"))
    deployment.redis = deployment.network.redis(6379, deployment.redis_password())
    deployment.audit = TransactionAudit(deployment.redis, deployment.names)
    deployment.audit.start()
    cluster.start(deployment.workload("spark-master"))
    workers = deployment.workload("spark-worker")
    for index in range(workers.replicas):
        cluster.start(workers, index)
    cluster.start(deployment.workload("spark-driver"), ready_timeout=240)
    for index in range(SCORER_REPLICAS):
        cluster.start(deployment.workload("scorer"), index)
    cluster.start(deployment.workload("generator"))


def wait_for(condition: object, timeout: float, what: str, cluster: Cluster) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():  # type: ignore[operator]
            return
        crashed = cluster.exited()
        if crashed:
            raise AssertionError(f"while waiting for {what}: " + "\n".join(crashed))
        time.sleep(1.0)
    raise AssertionError(f"timed out after {timeout:.0f}s waiting for {what}")
