"""The metric names the services really expose, and the ones a PromQL expression uses."""

from __future__ import annotations

import functools
import importlib
import re

from prometheus_client import REGISTRY, CollectorRegistry, generate_latest
from prometheus_client.parser import text_string_to_metric_families

#: One metrics module per service (BRIEF): the dashboards and alerts may use only these.
METRICS_MODULES = ("rtad.generator.metrics", "rtad.streaming.metrics", "rtad.scorer.metrics")

# Sample names a family of each type exposes (text format 0.0.4, what Prometheus scrapes).
_SUFFIXES = {
    "counter": ("_total", "_created"),
    "histogram": ("_bucket", "_count", "_sum", "_created"),
    "summary": ("", "_count", "_sum", "_created"),
    "info": ("_info",),
}

_METRIC = re.compile(r"\brtad_[a-z0-9_]+\b")


@functools.cache
def exposed_names() -> frozenset[str]:
    """Every sample name of the services' metrics, from their own exposition."""
    registries: list[CollectorRegistry] = [REGISTRY]
    for module_name in METRICS_MODULES:
        module = importlib.import_module(module_name)
        registries += [v for v in vars(module).values() if isinstance(v, CollectorRegistry)]
    names: set[str] = set()
    for registry in dict.fromkeys(registries):  # unique, in order
        text = generate_latest(registry).decode()
        for family in text_string_to_metric_families(text):
            if family.name.startswith("rtad_"):
                names.update(family.name + s for s in _SUFFIXES.get(family.type, ("",)))
    return frozenset(names)


def used_names(promql: str) -> set[str]:
    """The rtad_* metric names in a PromQL expression."""
    return set(_METRIC.findall(promql))
