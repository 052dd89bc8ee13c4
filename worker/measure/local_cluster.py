"""A throwaway grading service on this machine: redis-server, Celery workers and the API as
real subprocesses on free ports. Used by the service tests and `scangrade bench service`.

Nothing here talks to a Redis someone else runs: every RedisServer has its own port and dir.
"""

from __future__ import annotations

import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path

from scangrade.config.paths import REPO_ROOT
from scangrade.tokens import entry_for

START_TIMEOUT_S = 120.0  # a worker loads JAX and compiles the reader before it is ready


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def wait_for(condition: Callable[[], bool], timeout_s: float, what: str, poll_s=0.1) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if condition():
            return
        time.sleep(poll_s)
    raise TimeoutError(f"timed out after {timeout_s:.0f} s waiting for {what}")


def _port_open(port: int) -> bool:
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=0.5):
            return True
    except OSError:
        return False


class RedisServer:
    """redis-server on a free port with its own data dir; `persistent` turns on appendonly."""

    def __init__(self, data_dir: Path, persistent: bool = True, port: int | None = None):
        self.data_dir = Path(data_dir)
        self.persistent = persistent
        self.port = port or free_port()
        self.process: subprocess.Popen | None = None

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def start(self) -> RedisServer:
        redis_server = shutil.which("redis-server")
        if redis_server is None:
            raise RuntimeError("redis-server is not installed (make system-tools)")
        self.data_dir.mkdir(parents=True, exist_ok=True)
        args = [
            redis_server, "--port", str(self.port), "--bind", "127.0.0.1",
            "--dir", str(self.data_dir), "--save", "",
            "--appendonly", "yes" if self.persistent else "no",
            "--appendfsync", "always",
        ]  # fmt: skip
        log = (self.data_dir / "redis.log").open("ab")
        self.process = subprocess.Popen(args, stdout=log, stderr=subprocess.STDOUT)
        wait_for(lambda: _port_open(self.port), 10, f"redis-server on port {self.port}")
        return self

    def stop(self, kill: bool = False) -> None:
        if self.process is None:
            return
        self.process.send_signal(signal.SIGKILL if kill else signal.SIGTERM)
        self.process.wait(timeout=10)
        self.process = None

    def restart(self, down_s: float = 0.0) -> None:
        self.stop()
        time.sleep(down_s)
        self.start()


class ServiceProcess:
    """A subprocess whose output goes to a log file (read it when a test fails)."""

    def __init__(self, args: list[str], env: Mapping[str, str], log_path: Path, name: str):
        self.args, self.name, self.log_path = args, name, Path(log_path)
        self.log_path.parent.mkdir(parents=True, exist_ok=True)
        log = self.log_path.open("ab")
        self.process = subprocess.Popen(
            args, cwd=REPO_ROOT, env={**os.environ, **env}, stdout=log,
            stderr=subprocess.STDOUT, start_new_session=True,
        )  # fmt: skip

    @property
    def pid(self) -> int:
        return self.process.pid

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")

    def alive(self) -> bool:
        return self.process.poll() is None

    def kill9(self) -> None:
        """SIGKILL the whole process group: the worker gets no chance to clean up."""
        if self.alive():
            os.killpg(self.process.pid, signal.SIGKILL)
            self.process.wait(timeout=10)

    def stop(self, timeout_s: float = 15.0) -> None:
        if not self.alive():
            return
        os.killpg(self.process.pid, signal.SIGTERM)
        try:
            self.process.wait(timeout=timeout_s)
        except subprocess.TimeoutExpired:
            self.kill9()


def start_worker(
    env: Mapping[str, str],
    log_dir: Path,
    name: str,
    concurrency: int = 1,
    wait: bool = True,
    pool: str | None = None,
) -> ServiceProcess:
    """A real `celery worker`; by default the solo pool for one process, prefork for more."""
    pool = pool or ("solo" if concurrency == 1 else "prefork")
    args = [
        sys.executable, "-m", "celery", "-A", "worker.service.celery_app", "worker",
        f"--pool={pool}", f"--concurrency={concurrency}", "-n", f"{name}@%h",
        "--without-gossip", "--without-mingle", "--loglevel=INFO",
    ]  # fmt: skip
    process = ServiceProcess(args, env, Path(log_dir) / f"{name}.log", name)
    if wait:
        wait_for_worker(process)
    return process


def wait_for_worker(process: ServiceProcess, timeout_s: float = START_TIMEOUT_S) -> None:
    """Until the worker logs 'ready' (after its reader is loaded and compiled)."""

    def ready() -> bool:
        if not process.alive():
            raise RuntimeError(f"worker {process.name} exited:\n{process.log()[-4000:]}")
        return " ready." in process.log()

    wait_for(ready, timeout_s, f"worker {process.name}", poll_s=0.2)


def start_api(
    env: Mapping[str, str], log_dir: Path, port: int | None = None
) -> tuple[ServiceProcess, str]:
    """The HTTP API as `scangrade serve` runs it; returns the process and its base URL."""
    port = port or free_port()
    args = [
        sys.executable, "-c", "from api.cli import main; main()",
        "serve", "--host", "127.0.0.1", "--port", str(port),
    ]  # fmt: skip
    process = ServiceProcess(args, env, Path(log_dir) / "api.log", "api")

    def up() -> bool:
        if not process.alive():
            raise RuntimeError(f"API exited:\n{process.log()[-4000:]}")
        return _port_open(port)

    wait_for(up, 30, "the API")
    return process, f"http://127.0.0.1:{port}"


def service_env(
    redis_url: str, storage_dir: Path, teachers: Mapping[str, str],
    admins: Sequence[str] = (), **settings: object
) -> dict[str, str]:
    """Environment for the service's processes: SCANGRADE_<FIELD> for each setting; the API
    lets in each teacher's token (`teachers`: name -> token), `admins` see every exam."""
    env = {
        "SCANGRADE_REDIS_URL": redis_url,
        "SCANGRADE_STORAGE_DIR": str(storage_dir),
        "SCANGRADE_API_TOKENS": ",".join(entry_for(name, token)
                                         for name, token in teachers.items()),
        "SCANGRADE_ADMIN_TEACHERS": ",".join(admins),
        "PYTHONUNBUFFERED": "1",
    }
    env.update({f"SCANGRADE_{key.upper()}": str(value) for key, value in settings.items()})
    return env


# What a worker logs at INFO for each task it takes and finishes.
TASK_LOG = re.compile(r"Task (scangrade\.\w+)\[([0-9a-f-]+)\] (received|succeeded)")


def finished_tasks(log: str) -> set[str]:
    """The ids of the tasks a worker's log says succeeded."""
    return {task_id for _, task_id, event in TASK_LOG.findall(log) if event == "succeeded"}


def unfinished_tasks(log: str) -> set[str]:
    """The ids of the tasks a worker's log says it received and has not finished."""
    received = {task_id for _, task_id, event in TASK_LOG.findall(log) if event == "received"}
    return received - finished_tasks(log)
