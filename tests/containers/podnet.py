"""The pods' shared network namespace, and sockets opened inside it from the test process.

Kubernetes gives every pod its own network namespace; here every container of the release
joins the namespace of one holder container (``--network container:HOLDER``). Each pod gets
a loopback address of its own (127.0.0.0/8 is all loopback: no setup), its ``status.podIP``,
and the holder's ``/etc/hosts`` maps each Service name to the address of the pod behind it.
The host keeps its own loopback (a redis-server may already own 6379 there), so the test
process reaches the pods through sockets created by a thread that entered the holder's
namespace with ``setns(2)`` (root only): a socket stays in the namespace it was created in,
whichever thread uses it afterwards.
"""

from __future__ import annotations

import ctypes
import http.client
import os
import socket
import subprocess
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field

import redis
from redis.connection import Connection

from tests.containers.docker import docker, docker_out

CLONE_NEWNET = 0x40000000
LOOPBACK = "127.0.0.1"


def _enter_namespace(path: str) -> None:
    libc = ctypes.CDLL(None, use_errno=True)
    fd = os.open(path, os.O_RDONLY)
    try:
        if libc.setns(fd, CLONE_NEWNET) != 0:
            errno = ctypes.get_errno()
            raise OSError(errno, f"setns({path}): {os.strerror(errno)}")
    finally:
        os.close(fd)


@dataclass
class PodNetwork:
    """A holder container owning the namespace; ``hosts`` maps names to loopback addresses."""

    holder: str
    image: str
    hosts: dict[str, str]
    labels: dict[str, str] = field(default_factory=dict)
    pid: int = 0

    def start(self) -> None:
        if os.geteuid() != 0:
            raise PermissionError(
                "the container test enters the pods' network namespace (setns, nsenter): "
                "run it as root, as CI does (sudo .venv/bin/pytest tests/containers)"
            )
        args = ["run", "-d", "--name", self.holder, "--network", "none"]
        args += ["--hostname", "rtad-pod", "--add-host", f"rtad-pod:{LOOPBACK}"]
        for name, address in self.hosts.items():
            args += ["--add-host", f"{name}:{address}"]
        for key, value in self.labels.items():
            args += ["--label", f"{key}={value}"]
        docker(*args, self.image, "sleep", "infinity")
        self.pid = int(docker_out("inspect", "-f", "{{.State.Pid}}", self.holder))
        self._executor = ThreadPoolExecutor(
            max_workers=1, initializer=_enter_namespace, initargs=(self.namespace_path,)
        )

    @property
    def namespace_path(self) -> str:
        return f"/proc/{self.pid}/ns/net"

    @property
    def docker_network(self) -> str:
        return f"container:{self.holder}"

    def connect(self, port: int, timeout: float, host: str = LOOPBACK) -> socket.socket:
        """A TCP connection to ``host``:``port`` inside the pods' namespace."""
        return self._executor.submit(socket.create_connection, (host, port), timeout).result()

    def popen(self, argv: list[str], **kwargs: object) -> subprocess.Popen[bytes]:
        """A host program (Prometheus) run inside the pods' namespace."""
        command = ["nsenter", f"--net={self.namespace_path}", *argv]
        return subprocess.Popen(command, **kwargs)  # type: ignore[call-overload,no-any-return]

    def http_get(
        self, port: int, path: str, timeout: float = 5.0, host: str = LOOPBACK
    ) -> tuple[int, bytes]:
        connection = _PodHTTPConnection(self, host, port, timeout)
        try:
            connection.request("GET", path, headers={"Host": f"{host}:{port}"})
            response = connection.getresponse()
            return response.status, response.read()
        finally:
            connection.close()

    def redis(self, port: int, password: str | None) -> redis.Redis:
        pool = redis.ConnectionPool(
            connection_class=_PodRedisConnection,
            network=self,
            host=LOOPBACK,
            port=port,
            password=password,
            socket_timeout=30,
        )
        return redis.Redis(connection_pool=pool)

    def stop(self) -> None:
        if self.pid:
            self._executor.shutdown(wait=False)
        docker("rm", "-f", self.holder, check=False)


class _PodHTTPConnection(http.client.HTTPConnection):
    def __init__(self, network: PodNetwork, host: str, port: int, timeout: float) -> None:
        super().__init__(host, port, timeout=timeout)
        self._network = network

    def connect(self) -> None:
        self.sock = self._network.connect(self.port or 80, float(self.timeout or 5.0), self.host)


class _PodRedisConnection(Connection):
    def __init__(self, network: PodNetwork, **kwargs: object) -> None:
        super().__init__(**kwargs)  # type: ignore[arg-type]
        self._network = network

    def _connect(self) -> socket.socket:
        sock = self._network.connect(self.port, self.socket_connect_timeout or 10.0)
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        sock.settimeout(self.socket_timeout)
        return sock
