"""A real Redis Cluster on loopback ports, started from ``redis-server`` for tests and benchmarks.

Six ``redis-server --cluster-enabled yes`` processes in a temporary directory, joined by
``redis-cli --cluster create ... --cluster-replicas 1`` (3 masters, 3 replicas), shut down
by :meth:`LocalRedisCluster.stop`. Every wait is bounded in count and time; nothing
listens beyond 127.0.0.1. The shared Redis on 6379 is never touched.

Example:
    >>> with LocalRedisCluster.start(tempfile.mkdtemp()) as cluster:  # doctest: +SKIP
    ...     cluster.startup_nodes
    ['127.0.0.1:40001', ...]
"""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import time
from collections.abc import Callable, Iterator
from contextlib import closing, contextmanager, suppress
from dataclasses import dataclass
from pathlib import Path

NODES = 6
# Short enough that a killed master's replica takes over within a few seconds in the
# failover test, long enough that a loaded 2-core machine does not flap.
NODE_TIMEOUT_MS = 2000


class ClusterStartFailed(RuntimeError):
    """redis-server or redis-cli is missing, or the cluster did not form in time."""


def binaries_missing() -> str | None:
    """Why a cluster cannot be started here (a missing binary), or ``None``."""
    for name in ("redis-server", "redis-cli"):
        if shutil.which(name) is None:
            return f"{name} is not installed (apt-get install redis-server)"
    return None


def _free_ports(count: int) -> list[int]:
    """``count`` distinct free loopback ports whose cluster bus port (+10000) is free too."""
    ports: list[int] = []
    for _ in range(200):
        with closing(socket.socket()) as sock:
            sock.bind(("127.0.0.1", 0))
            port = int(sock.getsockname()[1])
        if port in ports or port + 10000 > 65535:
            continue
        with closing(socket.socket()) as bus:
            try:
                bus.bind(("127.0.0.1", port + 10000))
            except OSError:
                continue
        ports.append(port)
        if len(ports) == count:
            return ports
    raise ClusterStartFailed(f"found only {len(ports)} free loopback port pairs of {count}")


def _cli(port: int, *args: str, timeout: float = 10.0) -> str:
    out = subprocess.run(
        ["redis-cli", "-h", "127.0.0.1", "-p", str(port), *args],
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )
    return out.stdout + out.stderr


@dataclass
class LocalRedisCluster:
    """Six loopback ``redis-server`` processes forming one cluster (3 masters, 3 replicas).

    Example:
        >>> cluster = LocalRedisCluster.start("/tmp/x")  # doctest: +SKIP
        >>> cluster.stop()  # doctest: +SKIP
    """

    directory: Path
    ports: list[int]

    @property
    def startup_nodes(self) -> list[str]:
        """``host:port`` of every node, as ``online_store.startup_nodes`` takes them."""
        return [f"127.0.0.1:{port}" for port in self.ports]

    @classmethod
    def start(cls, directory: str | Path, *, timeout: float = 60.0) -> LocalRedisCluster:
        """Start the nodes, create the cluster and wait until every node reports ``ok``."""
        missing = binaries_missing()
        if missing:
            raise ClusterStartFailed(missing)
        root = Path(directory)
        root.mkdir(parents=True, exist_ok=True)
        # A free port can be taken by another process between probing and redis-server's
        # bind (seen once in CI: a node never answered PING); retry on fresh ports.
        for attempt in range(3):
            cluster = cls(root / f"attempt{attempt}", _free_ports(NODES))
            cluster.directory.mkdir(parents=True, exist_ok=True)
            try:
                for port in cluster.ports:
                    cluster._start_node(port)
                cluster._wait(lambda p: "PONG" in _cli(p, "PING"), 20.0, "answer PING")
                break
            except ClusterStartFailed:
                cluster.stop()
                if attempt == 2:
                    raise
        try:
            created = subprocess.run(
                [
                    "redis-cli",
                    "--cluster",
                    "create",
                    *cluster.startup_nodes,
                    "--cluster-replicas",
                    "1",
                    "--cluster-yes",
                ],
                capture_output=True,
                text=True,
                timeout=timeout,
                check=False,
            )
            if created.returncode != 0:
                raise ClusterStartFailed(f"redis-cli --cluster create failed: {created.stdout}")
            cluster.wait_ok(timeout=timeout)
            # A failover needs replicas that know their role and have synced.
            cluster._wait(cluster._replicas_synced, timeout, "see 3 synced replicas")
        except BaseException:
            cluster.stop()
            raise
        return cluster

    @classmethod
    def start_with_uncovered_slots(
        cls, directory: str | Path, *, uncovered: range, timeout: float = 30.0
    ) -> LocalRedisCluster:
        """Three masters that serve every slot except ``uncovered`` (no replicas).

        ``redis-cli --cluster create`` always covers every slot, so the slots are assigned
        by hand (``CLUSTER ADDSLOTSRANGE``) and the nodes introduced (``CLUSTER MEET``).
        """
        missing = binaries_missing()
        if missing:
            raise ClusterStartFailed(missing)
        root = Path(directory)
        root.mkdir(parents=True, exist_ok=True)
        cluster = cls(root, _free_ports(3))
        try:
            for port in cluster.ports:
                cluster._start_node(port)
            cluster._wait(lambda p: "PONG" in _cli(p, "PING"), timeout, "answer PING")
            covered = [s for s in range(16384) if s not in uncovered]
            third = len(covered) // 3
            for i, port in enumerate(cluster.ports):
                part = covered[i * third : len(covered) if i == 2 else (i + 1) * third]
                ranges: list[str] = []
                start = prev = part[0]
                for slot in [*part[1:], None]:
                    if slot is not None and slot == prev + 1:
                        prev = slot
                        continue
                    ranges += [str(start), str(prev)]
                    if slot is not None:
                        start = prev = slot
                _cli(port, "CLUSTER", "ADDSLOTSRANGE", *ranges)
            for port in cluster.ports[1:]:
                _cli(cluster.ports[0], "CLUSTER", "MEET", "127.0.0.1", str(port))
            known = f"cluster_known_nodes:{len(cluster.ports)}"
            cluster._wait(lambda p: known in _cli(p, "CLUSTER", "INFO"), timeout, "meet")
        except BaseException:
            cluster.stop()
            raise
        return cluster

    def _start_node(self, port: int) -> None:
        node_dir = self.directory / str(port)
        node_dir.mkdir(exist_ok=True)
        subprocess.run(
            [
                "redis-server",
                "--port",
                str(port),
                "--bind",
                "127.0.0.1",
                "--cluster-enabled",
                "yes",
                "--cluster-config-file",
                str(node_dir / "nodes.conf"),
                "--cluster-node-timeout",
                str(NODE_TIMEOUT_MS),
                "--dir",
                str(node_dir),
                "--save",
                "",
                "--appendonly",
                "no",
                "--daemonize",
                "yes",
                "--pidfile",
                str(node_dir / "redis.pid"),
                "--logfile",
                str(node_dir / "redis.log"),
            ],
            check=True,
            timeout=10,
            capture_output=True,
        )

    def _wait(self, ready: Callable[[int], bool], timeout: float, what: str) -> None:
        deadline = time.monotonic() + timeout
        pending = list(self.ports)
        for _ in range(int(timeout / 0.1) + 1):
            pending = [p for p in pending if not ready(p)]
            if not pending or time.monotonic() > deadline:
                break
            time.sleep(0.1)
        if pending:
            raise ClusterStartFailed(f"nodes {pending} did not {what} within {timeout:.0f}s")

    def wait_ok(self, *, ports: list[int] | None = None, timeout: float = 60.0) -> None:
        """Wait until ``cluster info`` of each node (default: all) says ``cluster_state:ok``."""
        watched = self.ports if ports is None else ports
        deadline = time.monotonic() + timeout
        pending = list(watched)
        for _ in range(int(timeout / 0.1) + 1):
            pending = [p for p in pending if "cluster_state:ok" not in _cli(p, "CLUSTER", "INFO")]
            if not pending or time.monotonic() > deadline:
                break
            time.sleep(0.1)
        if pending:
            raise ClusterStartFailed(f"cluster_state is not ok on {pending} after {timeout:.0f}s")

    def pid(self, port: int) -> int:
        """The process id of the node on ``port``."""
        return int((self.directory / str(port) / "redis.pid").read_text().strip())

    def _nodes(self, port: int) -> list[list[str]]:
        lines = [line.split() for line in _cli(port, "CLUSTER", "NODES").splitlines()]
        return [f for f in lines if len(f) >= 8 and "@" in f[1]]  # not an error message

    def masters(self) -> list[int]:
        """Ports of the nodes that are masters serving slots now (as the first live node sees)."""
        for port in self.ports:
            nodes = self._nodes(port)
            if nodes:
                return sorted(
                    int(f[1].split("@")[0].rsplit(":", 1)[1])
                    for f in nodes
                    if "master" in f[2] and "fail" not in f[2] and len(f) > 8
                )
        return []

    def _replicas_synced(self, port: int) -> bool:
        """Every node this one knows has its role, and a replica's link to its master is up."""
        nodes = self._nodes(port)
        if sum("slave" in f[2] for f in nodes) != NODES // 2:
            return False
        info = _cli(port, "INFO", "replication")
        return "role:master" in info or "master_link_status:up" in info

    def replica_of(self, port: int) -> int:
        """The port of a replica of the master on ``port``."""
        lines = self._nodes(port)
        master_id = next(f[0] for f in lines if "myself" in f[2])
        return next(int(f[1].split("@")[0].rsplit(":", 1)[1]) for f in lines if f[3] == master_id)

    def kill(self, port: int) -> None:
        """SIGKILL the node on ``port`` (a crash: no shutdown, no save)."""
        pidfile = self.directory / str(port) / "redis.pid"
        os.kill(self.pid(port), signal.SIGKILL)
        pidfile.unlink()  # a SIGKILLed server leaves it; its pid may be reused
        self._wait_gone(port)

    def _wait_gone(self, port: int) -> None:
        for _ in range(100):
            try:
                with socket.create_connection(("127.0.0.1", port), timeout=0.1):
                    pass
            except OSError:
                return
            time.sleep(0.05)

    def restart(self, port: int) -> None:
        """Start a killed node again with its saved cluster config (it rejoins as it was)."""
        self._start_node(port)
        self._wait(lambda p: p != port or "PONG" in _cli(p, "PING"), 20, "answer PING")

    def cli(self, port: int, *args: str) -> str:
        """``redis-cli -p port args...`` output (for tests that reconfigure one node)."""
        return _cli(port, *args)

    def stop(self) -> None:
        """Shut every node down (SIGKILL after a bounded wait) and remove the directory."""
        for port in self.ports:
            pidfile = self.directory / str(port) / "redis.pid"
            if not pidfile.exists():
                continue
            try:
                pid = int(pidfile.read_text().strip())
                os.kill(pid, signal.SIGTERM)
            except (ValueError, ProcessLookupError):
                continue
            for _ in range(50):
                try:
                    os.kill(pid, 0)
                except ProcessLookupError:
                    break
                time.sleep(0.05)
            else:
                with suppress(ProcessLookupError):
                    os.kill(pid, signal.SIGKILL)
        shutil.rmtree(self.directory, ignore_errors=True)

    def __enter__(self) -> LocalRedisCluster:
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()


@contextmanager
def running_cluster(directory: str | Path) -> Iterator[LocalRedisCluster]:
    """A started cluster, stopped on exit.

    Example:
        >>> with running_cluster("/tmp/c") as cluster:  # doctest: +SKIP
        ...     len(cluster.masters())
        3
    """
    cluster = LocalRedisCluster.start(directory)
    try:
        yield cluster
    finally:
        cluster.stop()
