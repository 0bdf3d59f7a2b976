"""What the chart wires together: Redis URL, Spark standalone, KEDA, monitoring, helm test."""

from __future__ import annotations

from typing import Any

import pytest

from rtad.common.streams import SCORER_GROUP, StreamNames
from tests.unit.k8s.helm import (
    CHART,
    VALUES_SETS,
    by_kind,
    env_of,
    pod_labels,
    pod_spec,
    render,
    run,
    tool,
    values_file,
    workloads,
)

pytestmark = pytest.mark.k8s

PIPELINE = {"rtad-generator", "rtad-spark-driver", "rtad-spark-worker", "rtad-scorer"}


def _main_container(obj: dict[str, Any]) -> dict[str, Any]:
    return pod_spec(obj)["containers"][0]


def _pipeline(docs: list[dict[str, Any]]) -> dict[str, dict[str, Any]]:
    return {w["metadata"]["name"]: w for w in workloads(docs) if w["metadata"]["name"] in PIPELINE}


def test_every_pipeline_pod_gets_the_redis_url_with_the_secret_password(
    default_docs: list[dict[str, Any]],
) -> None:
    secrets = by_kind(default_docs, "Secret")
    pipeline = _pipeline(default_docs)
    assert set(pipeline) == PIPELINE
    for name, obj in pipeline.items():
        env = _main_container(obj)["env"]
        names = [e["name"] for e in env]
        # $(VAR) is expanded only from variables defined earlier in the list.
        assert names.index("RTAD_REDIS_PASSWORD") < names.index("RTAD_REDIS_URL"), name
        ref = env[names.index("RTAD_REDIS_PASSWORD")]["valueFrom"]["secretKeyRef"]
        assert ref["key"] in secrets[ref["name"]]["data"], name
        url = env[names.index("RTAD_REDIS_URL")]["value"]
        assert url == "redis://:$(RTAD_REDIS_PASSWORD)@rtad-redis:6379/0", name
        assert {"RTAD_SHARDS", "RTAD_STREAM_PREFIX", "RTAD_HIGH_WATER", "RTAD_LOW_WATER"} <= set(
            names
        )


def test_external_redis_url_comes_from_the_given_secret() -> None:
    docs = render(VALUES_SETS["external-redis"])
    assert "rtad-redis" not in by_kind(docs, "StatefulSet")
    for name, obj in _pipeline(docs).items():
        env = env_of(_main_container(obj))
        assert "RTAD_REDIS_PASSWORD" not in env, name
        ref = env["RTAD_REDIS_URL"]["valueFrom"]["secretKeyRef"]
        assert ref == {"name": "rtad-redis-external", "key": "redis-url"}, name
    (trigger, *_) = by_kind(docs, "ScaledObject")["rtad-scorer"]["spec"]["triggers"]
    assert trigger["metadata"]["address"] == "redis.example.internal:6379"


def test_redis_keeps_an_aof_on_a_volume_and_the_password_off_the_spec(
    default_docs: list[dict[str, Any]],
) -> None:
    redis = by_kind(default_docs, "StatefulSet")["rtad-redis"]
    container = _main_container(redis)
    assert container["image"].startswith("redis:7.")
    assert "requirepass ${REDIS_PASSWORD}" in container["args"][0]
    assert "--requirepass" not in " ".join(container["args"])
    conf = by_kind(default_docs, "ConfigMap")["rtad-redis"]["data"]["redis.conf"]
    assert "appendonly yes" in conf and "maxmemory-policy noeviction" in conf
    assert {m["mountPath"] for m in container["volumeMounts"]} >= {"/data"}
    (claim,) = redis["spec"]["volumeClaimTemplates"]
    assert claim["metadata"]["name"] == "data"


def test_spark_standalone_cluster_lets_kubectl_scale_add_executors(
    default_docs: list[dict[str, Any]],
) -> None:
    worker = by_kind(default_docs, "StatefulSet")["rtad-spark-worker"]
    args = _main_container(worker)["args"]
    assert args[0] == "org.apache.spark.deploy.worker.Worker"
    assert args[-1] == "spark://rtad-spark-master:7077"
    master = by_kind(default_docs, "Deployment")["rtad-spark-master"]
    assert _main_container(master)["args"][0] == "org.apache.spark.deploy.master.Master"
    assert _main_container(master)["command"][-1] == "spark-class"
    driver = by_kind(default_docs, "Deployment")["rtad-spark-driver"]
    dargs = _main_container(driver)["args"]
    assert dargs[:3] == ["stream", "--master", "spark://rtad-spark-master:7077"]
    conf = _spark_defaults(default_docs)
    assert "spark.cores.max" not in conf
    assert conf["spark.submit.deployMode"] == "client"
    # Executors call the driver back through its headless Service, on fixed ports.
    service = by_kind(default_docs, "Service")["rtad-spark-driver"]
    assert service["spec"]["clusterIP"] == "None"
    assert conf["spark.driver.host"] == "rtad-spark-driver.rtad.svc"
    ports = {p["port"] for p in service["spec"]["ports"]}
    assert {int(conf["spark.driver.port"]), int(conf["spark.blockManager.port"])} <= ports
    assert service["spec"]["selector"].items() <= pod_labels(driver).items()


def test_driver_and_executors_share_the_checkpoint_volume(
    default_docs: list[dict[str, Any]],
) -> None:
    claims = by_kind(default_docs, "PersistentVolumeClaim")
    for name in ("rtad-spark-driver", "rtad-spark-worker"):
        obj = _pipeline(default_docs)[name]
        (claim,) = [v for v in pod_spec(obj)["volumes"] if "persistentVolumeClaim" in v]
        assert claim["persistentVolumeClaim"]["claimName"] in claims, name
        mounts = {m["name"]: m["mountPath"] for m in _main_container(obj)["volumeMounts"]}
        assert mounts[claim["name"]] == "/checkpoint", name
    driver_env = env_of(_main_container(_pipeline(default_docs)["rtad-spark-driver"]))
    assert driver_env["RTAD_CHECKPOINT_DIR"]["value"].startswith("/checkpoint/")


def test_the_jobs_own_spark_settings_agree_with_spark_defaults(
    default_docs: list[dict[str, Any]],
) -> None:
    """rtad stream sets driver host, executor memory and UI on its SparkSession: same values."""
    driver = _main_container(_pipeline(default_docs)["rtad-spark-driver"])
    env, conf = env_of(driver), _spark_defaults(default_docs)
    assert env["RTAD_DRIVER_HOST"]["value"] == conf["spark.driver.host"]
    assert env["RTAD_EXECUTOR_MEMORY"]["value"] == conf["spark.executor.memory"]
    args = driver["args"]
    assert args[args.index("--ui-port") + 1] == conf["spark.ui.port"]
    ui = {p["name"]: p["containerPort"] for p in driver["ports"]}["spark-ui"]
    assert driver["readinessProbe"]["tcpSocket"]["port"] == "spark-ui" and ui == 4040


def test_keda_scales_the_scorer_on_group_lag_with_one_trigger_per_shard() -> None:
    docs = render({"pipeline": {"shards": 3}})
    scaled = by_kind(docs, "ScaledObject")["rtad-scorer"]["spec"]
    assert scaled["scaleTargetRef"]["name"] == "rtad-scorer"
    triggers = scaled["triggers"]
    streams = [t["metadata"]["stream"] for t in triggers]
    assert streams == StreamNames(prefix="rtad", shards=3).all("features")  # the contract
    auth = by_kind(docs, "TriggerAuthentication")
    secrets = by_kind(docs, "Secret")
    for t in triggers:
        assert t["type"] == "redis-streams"
        assert t["metadata"]["consumerGroup"] == SCORER_GROUP
        assert int(t["metadata"]["lagCount"]) > 0
        (ref,) = auth[t["authenticationRef"]["name"]]["spec"]["secretTargetRef"]
        assert ref["parameter"] == "password" and ref["key"] in secrets[ref["name"]]["data"]
    assert "replicas" not in by_kind(docs, "Deployment")["rtad-scorer"]["spec"]
    assert "rtad-scorer" not in by_kind(docs, "HorizontalPodAutoscaler")


def test_without_keda_a_cpu_hpa_scales_the_scorer() -> None:
    docs = render(VALUES_SETS["keda-off"])
    assert not by_kind(docs, "ScaledObject") and not by_kind(docs, "TriggerAuthentication")
    hpa = by_kind(docs, "HorizontalPodAutoscaler")["rtad-scorer"]["spec"]
    assert hpa["metrics"][0]["resource"]["name"] == "cpu"
    static = render(VALUES_SETS["static-minimal"])
    assert by_kind(static, "Deployment")["rtad-scorer"]["spec"]["replicas"] == 2


def test_monitoring_objects_carry_the_additional_labels(default_docs: list[dict[str, Any]]) -> None:
    for kind in ("ServiceMonitor", "PodMonitor", "PrometheusRule"):
        (obj,) = by_kind(default_docs, kind).values()
        assert obj["metadata"]["labels"]["release"] == "kps", kind
    pod_monitor = next(iter(by_kind(default_docs, "PodMonitor").values()))["spec"]
    selector = pod_monitor["selector"]["matchLabels"].items()
    scraped = {
        w["metadata"]["name"] for w in workloads(default_docs) if selector <= pod_labels(w).items()
    }
    assert scraped == {"rtad-generator", "rtad-spark-driver"}
    for name in scraped:
        ports = {p["name"] for p in _main_container(_pipeline(default_docs)[name])["ports"]}
        assert pod_monitor["podMetricsEndpoints"][0]["port"] in ports, name
    off = render(VALUES_SETS["monitoring-off"])
    assert not [d for d in off if d["apiVersion"].startswith("monitoring.coreos.com")]
    assert not [d for d in off if "grafana_dashboard" in d["metadata"].get("labels", {})]


def test_dashboards_are_configmaps_for_the_grafana_sidecar(
    default_docs: list[dict[str, Any]],
) -> None:
    maps = [d for d in default_docs if d["metadata"].get("labels", {}).get("grafana_dashboard")]
    assert len(maps) == len(list((CHART / "dashboards").glob("*.json"))) >= 2
    for cm in maps:
        assert cm["metadata"]["labels"]["grafana_dashboard"] == "1"
        assert cm["metadata"]["annotations"]["grafana_folder"] == "rtad"
        assert all(key.endswith(".json") for key in cm["data"])


def test_services_and_pod_selectors_line_up(rendered: list[dict[str, Any]]) -> None:
    pods = workloads(rendered)
    for name, service in by_kind(rendered, "Service").items():
        selector = service["spec"]["selector"].items()
        targets = [w for w in pods if selector <= pod_labels(w).items()]
        assert targets, f"Service {name} selects no pod"
        ports = {
            p["name"]
            for w in targets
            for c in pod_spec(w)["containers"]
            for p in c.get("ports", [])
        }
        for port in service["spec"]["ports"]:
            assert port["targetPort"] in ports, (
                f"Service {name}: no container port {port['targetPort']}"
            )


def test_helm_test_asks_the_scorer_readyz(default_docs: list[dict[str, Any]]) -> None:
    (pod,) = [d for d in default_docs if d["kind"] == "Pod"]
    assert pod["metadata"]["annotations"]["helm.sh/hook"] == "test"
    assert "http://rtad-scorer:8000/readyz" in pod_spec(pod)["containers"][0]["command"][-1]


def test_notes_show_port_forward_and_kubectl_scale() -> None:
    proc = run(
        [tool("helm"), "install", "rtad", CHART, "--namespace", "rtad", "--dry-run=client",
         "--values", values_file({})]
    )  # fmt: skip
    notes = proc.stdout.split("NOTES:", 1)[1]
    assert "kubectl -n rtad scale statefulset rtad-spark-worker --replicas=3" in notes
    assert "port-forward svc/rtad-scorer 8000:8000" in notes
    assert "port-forward svc/kps-grafana 3000:80" in notes


def _spark_defaults(docs: list[dict[str, Any]]) -> dict[str, str]:
    text = by_kind(docs, "ConfigMap")["rtad-spark-driver"]["data"]["spark-defaults.conf"]
    pairs = (line.split(None, 1) for line in text.splitlines() if line and not line.startswith("#"))
    return {k: v.strip() for k, v in pairs}


def test_the_chart_passes_options_the_rtad_cli_understands(
    default_docs: list[dict[str, Any]],
) -> None:
    """Parse each container's arguments with rtad's own Typer app (without running them)."""
    import typer

    from rtad.cli.main import app

    group: Any = typer.main.get_command(app)  # a Click group (typer vendors its own Click)
    root = group.make_context("rtad", [], resilient_parsing=True)
    for name in ("rtad-generator", "rtad-spark-driver", "rtad-scorer"):
        command_name, *args = _main_container(_pipeline(default_docs)[name])["args"]
        command = group.get_command(root, command_name)
        assert command is not None, name
        with command.make_context(command_name, list(args), parent=root) as ctx:
            assert ctx.params, name


SETTINGS = {
    "rtad-generator": "rtad.generator.settings.GeneratorSettings",
    "rtad-spark-driver": "rtad.streaming.settings.StreamSettings",
    "rtad-spark-worker": "rtad.streaming.settings.StreamSettings",
    "rtad-scorer": "rtad.scorer.settings.ScorerSettings",
}


def test_every_rtad_env_var_is_a_setting_of_that_service(rendered: list[dict[str, Any]]) -> None:
    """RTAD_* names in the chart are fields of the service's settings class (no dead config)."""
    import importlib

    for name, obj in _pipeline(rendered).items():
        module, _, cls = SETTINGS[name].rpartition(".")
        settings = getattr(importlib.import_module(module), cls)
        known = {f"RTAD_{field.upper()}" for field in settings.model_fields}
        given = {e for e in env_of(_main_container(obj)) if e.startswith("RTAD_")}
        # RTAD_REDIS_PASSWORD only feeds the $(…) expansion of RTAD_REDIS_URL.
        assert given - {"RTAD_REDIS_PASSWORD"} <= known, f"{name}: {sorted(given - known)}"
