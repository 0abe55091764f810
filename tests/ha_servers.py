"""Replicated engines on this machine, for the high-availability fault tests: a Redis
primary with two replicas watched by three Sentinels, and a three-node RabbitMQ cluster.

Every server is the test's own (free ports, a temporary directory), so killing one
disturbs nothing else; ``stop`` removes them all.
"""

from __future__ import annotations

import shutil
import signal
import subprocess
import tempfile
import threading
from pathlib import Path

import redis

from tests.servers import PrivateRabbit, free_port, port_open, wait_for

SERVICE = "gwha"


class RedisNode:
    def __init__(self, base: Path, name: str, args: list[str]) -> None:
        self.port = free_port()
        self.dir = base / name
        self.dir.mkdir()
        self.args = args
        self.proc: subprocess.Popen[bytes] | None = None

    def start(self, binary: str, *extra: str) -> None:
        self.proc = subprocess.Popen(
            [
                shutil.which(binary) or f"/usr/bin/{binary}", *extra,
                "--bind", "127.0.0.1", "--port", str(self.port), "--dir", str(self.dir),
                "--logfile", str(self.dir / "log"), *self.args,
            ],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )  # fmt: skip

    def client(self) -> redis.Redis:
        return redis.Redis(port=self.port, decode_responses=True, socket_timeout=5)

    def kill(self) -> None:
        """kill -9: no shutdown, no last write to anyone."""
        if self.proc is not None and self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait(10)


class RedisSentinelGroup:
    """A primary, two replicas and three Sentinels (quorum 2) on free ports.

    The data nodes keep nothing on disk: durability comes from replication here, as in
    the deployment docs/deployment.md describes. ``down_after_ms`` is short so a failover
    takes seconds, not the 30 s default.
    """

    def __init__(self, *, down_after_ms: int = 1000) -> None:
        self.base = Path(tempfile.mkdtemp(prefix="gw-sentinel-"))
        data = ["--save", "", "--appendonly", "no", "--repl-diskless-sync-delay", "0"]
        self.nodes = [RedisNode(self.base, f"redis{i}", list(data)) for i in range(3)]
        self.sentinels = [RedisNode(self.base, f"sentinel{i}", []) for i in range(3)]
        self.down_after_ms = down_after_ms

    @property
    def url(self) -> str:
        hosts = ",".join(f"127.0.0.1:{s.port}" for s in self.sentinels)
        return f"redis+sentinel://{hosts}/{SERVICE}/0"

    def start(self) -> RedisSentinelGroup:
        first = self.nodes[0]
        first.start("redis-server")
        for replica in self.nodes[1:]:
            replica.start("redis-server", "--replicaof", "127.0.0.1", str(first.port))
        wait_for(lambda: all(port_open(n.port) for n in self.nodes), 30, "redis nodes did not start")
        # Sentinels read the primary's INFO at once, then every 10 s: start them once the
        # replicas are in sync, so the first reading already lists both.
        wait_for(self._replicas_online, 60, "the replicas did not sync")
        for sentinel in self.sentinels:
            conf = sentinel.dir / "sentinel.conf"
            conf.write_text(
                f"sentinel monitor {SERVICE} 127.0.0.1 {first.port} 2\n"
                f"sentinel down-after-milliseconds {SERVICE} {self.down_after_ms}\n"
                f"sentinel failover-timeout {SERVICE} 10000\n"
                f"sentinel parallel-syncs {SERVICE} 2\n"
            )
            sentinel.start("redis-server", str(conf), "--sentinel")
        wait_for(lambda: all(port_open(n.port) for n in self.sentinels), 30, "sentinels did not start")
        wait_for(self.settled, 60, "sentinels did not see two replicas and each other")
        return self

    def _replicas_online(self) -> bool:
        try:
            with self.nodes[0].client() as c:
                info = c.info("replication")
        except redis.RedisError:
            return False
        return all(info.get(f"slave{i}", {}).get("state") == "online" for i in range(2))

    def settled(self) -> bool:
        """Every Sentinel knows both replicas and the other Sentinels; both replicas in sync."""
        try:
            for sentinel in self.sentinels:
                with sentinel.client() as c:
                    state = c.sentinel_master(SERVICE)
                if int(state["num-slaves"]) < 2 or int(state["num-other-sentinels"]) < 2:
                    return False
        except redis.RedisError:
            return False
        return self._replicas_online()

    def primary(self) -> RedisNode:
        """The node the sentinels currently name as primary."""
        with self.sentinels[0].client() as c:
            _, port = c.sentinel_get_master_addr_by_name(SERVICE)
        return next(n for n in self.nodes if n.port == int(port))

    def replicas(self) -> list[RedisNode]:
        primary = self.primary()
        return [n for n in self.nodes if n is not primary and n.proc is not None and n.proc.poll() is None]

    def promoted_after(self, old: RedisNode) -> bool:
        """True once every sentinel names a primary other than ``old`` and it answers as one."""
        try:
            for sentinel in self.sentinels:
                with sentinel.client() as c:
                    _, port = c.sentinel_get_master_addr_by_name(SERVICE)
                if int(port) == old.port:
                    return False
            with self.primary().client() as c:
                return c.info("replication")["role"] == "master"
        except (redis.RedisError, StopIteration):
            return False

    def cut_off_replicas(self) -> list[RedisNode]:
        """Stop the replicas (SIGSTOP) and drop their links, so nothing the primary writes
        from now on reaches them — what a primary whose replicas lag or are partitioned away
        does. Returns them for ``resume``."""
        replicas = self.replicas()
        for replica in replicas:
            assert replica.proc is not None
            replica.proc.send_signal(signal.SIGSTOP)
        with self.primary().client() as c:
            c.client_kill_filter(_type="replica")
        return replicas

    @staticmethod
    def resume(replicas: list[RedisNode]) -> None:
        for replica in replicas:
            assert replica.proc is not None
            replica.proc.send_signal(signal.SIGCONT)

    def stop(self) -> None:
        for node in self.sentinels + self.nodes:
            if node.proc is not None and node.proc.poll() is None:
                node.proc.send_signal(signal.SIGCONT)
            node.kill()
        shutil.rmtree(self.base, ignore_errors=True)


class RabbitCluster:
    """Three RabbitMQ nodes on this machine joined into one cluster: distinct node names,
    ports and data directories (``PrivateRabbit``), one Erlang cookie (the rabbitmq
    user's, which every node started here shares)."""

    def __init__(self, size: int = 3) -> None:
        self.nodes = [PrivateRabbit() for _ in range(size)]

    @property
    def urls(self) -> list[str]:
        return [node.url for node in self.nodes]

    def start(self) -> RabbitCluster:
        threads = [threading.Thread(target=node.start) for node in self.nodes]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        first = self.nodes[0]
        for node in self.nodes[1:]:
            for args in (("stop_app",), ("join_cluster", first.node), ("start_app",)):
                done = node._ctl(*args, timeout=180)
                if done.returncode != 0:
                    raise RuntimeError(f"{node.node}: rabbitmqctl {' '.join(args)}: {done.stderr.decode()[-500:]}")
            wait_for(lambda n=node: port_open(n.port), 90, f"{node.node} did not come back after joining")
        status = first._ctl("cluster_status", timeout=60).stdout.decode()
        missing = [n.node for n in self.nodes if n.node not in status]
        if missing:
            raise RuntimeError(f"not clustered: {missing}: {status}")
        return self

    def stop(self) -> None:
        for node in reversed(self.nodes):
            node.stop()
