"""Ports of many pods on one loopback: the first pod keeps the chart's port, the next move.

On Kubernetes each pod has its own loopback, so two scorer replicas both listen on 8000 and
the generator and the Spark driver both on 9100. Here they share one network namespace, so a
pod whose container port is already taken gets another one, and the harness rewrites every
argument and environment value that is exactly that port number ("8000" in ``--port 8000``
or ``RTAD_METRICS_PORT=9100``). Services keep reaching the first pod on the chart's port;
probes and Prometheus targets follow the move.

>>> plan = PortPlan()
>>> plan.claim("scorer-0", [8000]), plan.claim("scorer-1", [8000])
({8000: 8000}, {8000: 18000})
>>> plan.rewrite("scorer-1", ["serve", "--port", "8000"])
['serve', '--port', '18000']
"""

from __future__ import annotations

from dataclasses import dataclass, field

SHIFT = 10000


@dataclass
class PortPlan:
    taken: set[int] = field(default_factory=set)
    by_pod: dict[str, dict[int, int]] = field(default_factory=dict)

    def claim(self, pod: str, ports: list[int]) -> dict[int, int]:
        """Container port -> port on the shared loopback, for one pod (idempotent)."""
        if pod in self.by_pod:
            return self.by_pod[pod]
        mapping: dict[int, int] = {}
        for port in ports:
            chosen = port
            while chosen in self.taken:
                chosen += SHIFT if chosen == port else 1
            self.taken.add(chosen)
            mapping[port] = chosen
        self.by_pod[pod] = mapping
        return mapping

    def release(self, pod: str) -> None:
        self.taken -= set(self.by_pod.pop(pod, {}).values())

    def port(self, pod: str, container_port: int) -> int:
        return self.by_pod.get(pod, {}).get(container_port, container_port)

    def rewrite(self, pod: str, values: list[str]) -> list[str]:
        moved = {str(a): str(b) for a, b in self.by_pod.get(pod, {}).items() if a != b}
        return [moved.get(value, value) for value in values]

    def rewrite_env(self, pod: str, env: dict[str, str]) -> dict[str, str]:
        keys = list(env)
        return dict(zip(keys, self.rewrite(pod, [env[k] for k in keys]), strict=True))
