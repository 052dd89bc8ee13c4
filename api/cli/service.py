"""`scangrade serve`, `scangrade worker`, `scangrade token`, `scangrade review` and the
service benches."""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
from typing import Annotated

import typer

from api.cli import CommandGroups

# XLA's CPU backend uses every core per process; with one worker process per core that
# oversubscribes the CPU, so each process then runs XLA single-threaded.
SINGLE_THREAD_XLA = "--xla_cpu_multi_thread_eigen=false"


def register(groups: CommandGroups) -> None:
    groups.root.command("serve")(serve)
    groups.root.command("worker")(worker)
    groups.root.command("token")(token)
    groups.root.command("review")(review)
    groups.bench.command("service")(bench_service)
    groups.bench.command("recovery")(bench_recovery)
    groups.bench.command("review")(bench_review)


def serve(
    host: Annotated[str | None, typer.Option(help="Bind address (setting api_host).")] = None,
    port: Annotated[int | None, typer.Option(help="Port (setting api_port).")] = None,
) -> None:
    """Run the HTTP API and upload page (uvicorn)."""
    import uvicorn

    from scangrade.settings import get_settings

    settings = get_settings()
    if not settings.api_tokens:
        typer.echo(
            "warning: SCANGRADE_API_TOKENS is empty; every API request will get 401", err=True
        )
    from api.server import protocol_with_header_timeout

    uvicorn.run(
        "api.app:create_app",
        factory=True,
        host=host or settings.api_host,
        port=port or settings.api_port,
        proxy_headers=True,
        http=protocol_with_header_timeout(settings.header_read_timeout_s),
    )


def token(
    teacher: Annotated[str, typer.Argument(help="The teacher's name, e.g. a.lovelace.")],
) -> None:
    """Make an API token for a teacher: the token (give it to them) and the line for
    SCANGRADE_API_TOKENS (the server keeps only its hash)."""
    from scangrade.tokens import TEACHER_NAME, entry_for, new_token

    if not TEACHER_NAME.fullmatch(teacher):
        typer.echo(f"error: {teacher!r}: a teacher's name is letters, digits and . _ @ -"
                   " (up to 64)", err=True)
        raise typer.Exit(2)
    made = new_token()
    typer.echo(f"token for {teacher} (give it to them; it is not stored anywhere):\n  {made}")
    typer.echo(f"add to SCANGRADE_API_TOKENS (comma-separated):\n  {entry_for(teacher, made)}")
    typer.echo("an exam office that sees every exam: add the name to SCANGRADE_ADMIN_TEACHERS")


def review(
    out_dir: Annotated[str, typer.Argument(help="A report folder `scangrade grade` wrote.")],
    port: Annotated[int, typer.Option(help="Port on 127.0.0.1 (0: any free one).")] = 0,
    browser: Annotated[bool, typer.Option(help="Open the page in the browser.")] = True,
) -> None:
    """Review the flagged answers of OUT_DIR in the browser, on this computer only (no
    server needed); each decision goes into OUT_DIR/corrections.csv and the reports are
    regraded at once. Ctrl-C to stop."""
    import secrets
    import socket
    import webbrowser
    from pathlib import Path

    import uvicorn

    from api.local_review import check_folder, create_review_app
    from scangrade.settings import get_settings
    from worker.grading.review_queue import REVIEW_JSON

    folder = Path(out_dir)
    problem = check_folder(folder)
    if problem:
        typer.echo(f"error: {problem}", err=True)
        raise typer.Exit(2)
    settings = get_settings()
    if not (folder / REVIEW_JSON).is_file():  # graded by an older scangrade
        from worker.grading import regrade

        typer.echo("preparing the review: regrading the folder once")
        regrade(folder, settings=settings)
    key = secrets.token_urlsafe(24)
    with socket.socket() as probe:  # a free port now, so the address can be printed first
        probe.bind(("127.0.0.1", port))
        port = probe.getsockname()[1]
    address = f"http://127.0.0.1:{port}/#review?key={key}"
    typer.echo(f"review {folder} at {address}\n(only this computer can open it; Ctrl-C to"
               " stop)")
    if browser:
        webbrowser.open(address)
    uvicorn.run(create_review_app(folder, settings, key), host="127.0.0.1", port=port,
                log_level="warning")


def worker(
    gpu: Annotated[bool, typer.Option(help="One worker process per GPU, larger chunks.")] = False,
    concurrency: Annotated[
        int | None,
        typer.Option(help="Worker processes (CPU: default one per core; GPU: one per GPU)."),
    ] = None,
    loglevel: Annotated[str, typer.Option(help="Celery log level.")] = "INFO",
    queues: Annotated[str | None, typer.Option(help="Comma-separated queues.")] = None,
) -> None:
    """Run a Celery worker that grades uploaded scans (Redis from SCANGRADE_REDIS_URL)."""
    extra = ["--loglevel", loglevel] + (["--queues", queues] if queues else [])
    if gpu:
        raise typer.Exit(_run_gpu_workers(concurrency, extra))
    processes = concurrency or os.cpu_count() or 1
    env = dict(os.environ)
    env.setdefault("JAX_PLATFORMS", "cpu")  # a CPU worker: never grab a GPU by accident
    if processes >= (os.cpu_count() or 1) > 1:
        env.setdefault("XLA_FLAGS", SINGLE_THREAD_XLA)
        env.setdefault("SCANGRADE_PREPROCESS_THREADS", "1")
    args = _celery_args(f"cpu-{os.getpid()}", processes, extra)
    os.execvpe(args[0], args, env)  # become the worker: signals reach Celery directly


def _celery_args(name: str, processes: int, extra: list[str]) -> list[str]:
    return [
        sys.executable, "-m", "celery", "-A", "worker.service.celery_app", "worker",
        "--pool=prefork", f"--concurrency={processes}", "--hostname", f"{name}@%h", *extra,
    ]  # fmt: skip


def gpu_count() -> int:
    """GPUs visible to this process: CUDA_VISIBLE_DEVICES if set, else nvidia-smi."""
    visible = os.environ.get("CUDA_VISIBLE_DEVICES")
    if visible is not None:
        return len([device for device in visible.split(",") if device.strip()])
    if shutil.which("nvidia-smi") is None:
        return 0
    result = subprocess.run(
        ["nvidia-smi", "--list-gpus"], capture_output=True, text=True, check=False
    )
    return len([line for line in result.stdout.splitlines() if line.startswith("GPU")])


def _run_gpu_workers(count: int | None, extra: list[str]) -> int:
    """One Celery worker per GPU, each seeing only its own device; waits for all of them."""
    from scangrade.settings import get_settings

    settings = get_settings()
    visible = os.environ.get("CUDA_VISIBLE_DEVICES")
    devices = [d.strip() for d in visible.split(",")] if visible else None
    count = count or gpu_count()
    if count < 1:
        typer.echo("no GPU found (nvidia-smi / CUDA_VISIBLE_DEVICES); run without --gpu", err=True)
        return 2
    children = []
    for index in range(count):
        env = {
            **os.environ,
            "CUDA_VISIBLE_DEVICES": devices[index] if devices else str(index),
            "JAX_PLATFORMS": os.environ.get("JAX_PLATFORMS", "cuda"),
            # Several processes may share a node; allocate GPU memory as needed.
            "XLA_PYTHON_CLIENT_PREALLOCATE": "false",
            "SCANGRADE_TASK_CHUNK_PAGES": os.environ.get(
                "SCANGRADE_TASK_CHUNK_PAGES", str(settings.gpu_task_chunk_pages)
            ),
            "SCANGRADE_CHUNK_PAGES": os.environ.get(
                "SCANGRADE_CHUNK_PAGES", str(settings.gpu_task_chunk_pages)
            ),
            "SCANGRADE_READER_BATCH_SIZES": os.environ.get(
                "SCANGRADE_READER_BATCH_SIZES", json.dumps(list(settings.gpu_reader_batch_sizes))
            ),
        }
        args = _celery_args(f"gpu{index}-{os.getpid()}", 1, extra)
        children.append(subprocess.Popen(args, env=env))

    def forward(signum, _frame):
        for child in children:
            child.send_signal(signum)

    for signum in (signal.SIGTERM, signal.SIGINT):
        signal.signal(signum, forward)
    codes = [child.wait() for child in children]
    return max(codes)


def bench_service(
    pdf: Annotated[
        str | None, typer.Option(help="Scanned PDF (default samples/scans.pdf).")
    ] = None,
    uploads: Annotated[int, typer.Option(help="Concurrent one-page uploads to submit.")] = 50,
    chunk_pages: Annotated[
        int | None, typer.Option(help="Pages per task (default: setting task_chunk_pages).")
    ] = None,
    repeat: Annotated[
        int, typer.Option(help="Grade the PDF's pages this many times over (class size).")
    ] = 4,
) -> None:
    """Pages/s through the service (1 and 2 workers) vs in-process, latency, burst; JSON."""
    from scangrade.settings import get_settings
    from worker.measure.bench_service import run_bench

    run_bench(get_settings(), pdf, uploads, chunk_pages, repeat)


def bench_recovery() -> None:
    """Time from a fault (a worker host dies, Redis loses its data, Redis restarts) to a
    60-page job's reports, against an undisturbed run; with the settings' visibility timeout
    and recovery sweep. JSON."""
    from scangrade.settings import get_settings
    from worker.measure.bench_recovery import run_bench

    run_bench(get_settings())


def bench_review() -> None:
    """What a teacher waits for on the review screen of a 40-student class (laptop and
    service): the queue loading, a crop, a decision until the reports have it. JSON."""
    from scangrade.settings import get_settings
    from worker.measure.bench_review import run_bench

    run_bench(get_settings())
