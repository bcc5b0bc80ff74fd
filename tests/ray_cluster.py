"""A real two-node Ray cluster on loopback, for the tests and benchmarks of the engine pool on Ray.

`ray start --head` and a second `ray start --address …` joined to it, each with `--num-cpus` CPUs, every
port chosen free here (other clusters may run on the same machine) and token auth off
(`RAY_AUTH_MODE=disabled`, the recipe's finding for Ray 2.60). Each node runs with `--block` in its own
session, so stopping kills exactly the processes it started (`ray stop` would stop every cluster on the
machine). The environment is passed on, so the actors import this checkout's openasr.
"""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from pathlib import Path

HOST = "127.0.0.1"


def _free_port() -> int:
    with socket.socket() as s:
        s.bind((HOST, 0))
        return int(s.getsockname()[1])


def _node_ports() -> list[str]:
    return [
        f"--node-manager-port={_free_port()}",
        f"--object-manager-port={_free_port()}",
        f"--dashboard-agent-listen-port={_free_port()}",
        f"--dashboard-agent-grpc-port={_free_port()}",
        f"--runtime-env-agent-port={_free_port()}",
        f"--metrics-export-port={_free_port()}",
    ]


def _start(args: list[str], log: Path) -> subprocess.Popen[bytes]:
    env = {**os.environ, "RAY_AUTH_MODE": "disabled", "RAY_USAGE_STATS_ENABLED": "0"}
    with log.open("wb") as out:
        return subprocess.Popen(
            ["ray", "start", "--block", f"--node-ip-address={HOST}", "--disable-usage-stats", *args],
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )


def _stop(node: subprocess.Popen[bytes]) -> None:
    """SIGKILL every process of the node's session: a throwaway cluster needs no graceful shutdown (that
    takes 10-15 s), and Ray gives each worker its own process group, but not its own session."""
    for pid in _session(node.pid):
        with suppress(ProcessLookupError):
            os.kill(pid, signal.SIGKILL)
    node.wait(10)


def _session(sid: int) -> list[int]:
    pids = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                if os.getsid(int(entry.name)) == sid:
                    pids.append(int(entry.name))
            except (ProcessLookupError, PermissionError):
                continue
    return pids


def _wait_for_nodes(port: int, count: int, nodes: list[subprocess.Popen[bytes]], logs: Path) -> None:
    """Wait for the head's port, connect, then wait until `count` nodes are alive."""
    import ray

    deadline = time.monotonic() + 120
    while time.monotonic() < deadline and all(node.poll() is None for node in nodes):
        if not ray.is_initialized():
            try:
                socket.create_connection((HOST, port), timeout=1).close()
            except OSError:
                time.sleep(0.3)
                continue
            ray.init(address=f"{HOST}:{port}", log_to_driver=False, _node_ip_address=HOST)
        if sum(1 for n in ray.nodes() if n["Alive"]) >= count:
            return
        time.sleep(0.3)
    raise RuntimeError(f"local Ray cluster did not come up; logs in {logs}")


@contextmanager
def local_ray_cluster(cpus_per_node: int = 1, nodes: int = 2) -> Iterator[str]:
    """Start the cluster, connect this process to it (`ray.init`), and yield its address."""
    import ray

    os.environ["RAY_AUTH_MODE"] = "disabled"
    temp = Path(tempfile.mkdtemp(prefix="ray", dir="/tmp"))  # short: Ray's socket paths must fit 107 bytes
    port = _free_port()
    address = f"{HOST}:{port}"
    head = [
        "--head",
        f"--port={port}",
        f"--ray-client-server-port={_free_port()}",
        "--include-dashboard=false",
        f"--dashboard-port={_free_port()}",
        f"--temp-dir={temp}",
        f"--num-cpus={cpus_per_node}",
        "--num-gpus=0",
    ]
    started = [_start([*head, *_node_ports()], temp / "head.log")]
    try:
        for index in range(1, nodes):
            worker = [f"--address={address}", f"--num-cpus={cpus_per_node}", "--num-gpus=0", *_node_ports()]
            started.append(_start(worker, temp / f"node{index}.log"))
        _wait_for_nodes(port, nodes, started, temp)
        yield address
    finally:
        if ray.is_initialized():
            ray.shutdown()
        for node in reversed(started):
            _stop(node)
        shutil.rmtree(temp, ignore_errors=True)
