"""`harness server`: an MLflow tracking server over one store, for several harness processes at once.

Runs write through it over HTTP (`harness run SUITE --tracking-uri http://HOST:PORT`), so no
process touches the store but the server: its SQLite database is written by one server worker,
and artifacts are uploaded through it (`--serve-artifacts`), so clients need no shared file system.
It binds to 127.0.0.1 unless told otherwise: MLflow's server has no authentication.
"""
from __future__ import annotations

import socket
import sys
import time
import urllib.error
import urllib.request
from dataclasses import dataclass
from pathlib import Path

LOCAL = "127.0.0.1"


@dataclass(frozen=True)
class ServerConfig:
    store: Path                    # holds mlflow.db and artifacts/
    host: str = LOCAL
    port: int = 5000
    workers: int = 1               # one writer keeps SQLite free of lock contention

    @property
    def uri(self) -> str:
        return f"http://{self.host}:{self.port}"

    def command(self) -> list[str]:
        """The `mlflow server` command line for this store."""
        store = self.store.resolve()
        cmd = [sys.executable, "-m", "mlflow", "server",
               "--backend-store-uri", f"sqlite:///{store / 'mlflow.db'}",
               "--artifacts-destination", str(store / "artifacts"), "--serve-artifacts",
               "--host", self.host, "--port", str(self.port), "--workers", str(self.workers)]
        if self.host not in (LOCAL, "localhost"):
            cmd += ["--allowed-hosts", "*"]
        return cmd


def free_port(host: str = LOCAL) -> int:
    """A TCP port nothing listens on right now (for tests and `--port 0`)."""
    with socket.socket() as s:
        s.bind((host, 0))
        return s.getsockname()[1]


def wait_until_up(uri: str, timeout: float = 60.0) -> None:
    """Block until the server answers its health check; raise TimeoutError naming the address."""
    deadline = time.time() + timeout
    while time.time() < deadline:
        try:
            with urllib.request.urlopen(f"{uri}/health", timeout=2) as reply:
                if reply.status == 200:
                    return
        except (urllib.error.URLError, ConnectionError, OSError):
            pass
        time.sleep(0.3)
    raise TimeoutError(f"no MLflow tracking server answered at {uri} within {timeout:.0f} s")
