"""The kube context the cluster test runs against, or one line saying there is none.

``python -m tests.cluster.context`` (the first step of ``make test-cluster``) prints the
context and the server's version, or ``no Kubernetes context: …`` and exits 1.
"""

from __future__ import annotations

import sys

from kubernetes import client, config
from kubernetes.config.config_exception import ConfigException
from urllib3.exceptions import HTTPError

HINT = "create one (kind create cluster --config k8s/kind-cluster.yaml) or select one"
HINT += " (kubectl config use-context NAME); docs/kubernetes.md"


class NoContext(RuntimeError):
    """No usable kube context: nothing configured, or its API server does not answer."""


def current_context(timeout_s: float = 10.0) -> str:
    """Load the current kube context; ``name (server version)``, or :class:`NoContext`."""
    try:
        config.load_kube_config()
        _, active = config.list_kube_config_contexts()
    except (ConfigException, OSError, TypeError) as exc:
        raise NoContext(f"no Kubernetes context: {_first_line(exc)}; {HINT}") from None
    name = str(active["name"])
    try:
        version = client.VersionApi().get_code(_request_timeout=timeout_s)
    except (HTTPError, OSError, client.ApiException) as exc:
        reason = _first_line(exc)
        raise NoContext(
            f"no Kubernetes context: {name} does not answer ({reason}); {HINT}"
        ) from None
    return f"{name} (Kubernetes {version.git_version})"


def _first_line(error: BaseException) -> str:
    text = str(error).strip()
    return text.splitlines()[0][:300] if text else type(error).__name__


def main() -> int:
    try:
        sys.stdout.write(f"kube context: {current_context()}\n")
    except NoContext as exc:
        sys.stderr.write(f"{exc}\n")
        return 1
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
