"""`scangrade worker`: the Celery command line it becomes."""

from __future__ import annotations


def test_worker_command_defaults(monkeypatch) -> None:
    from typer.testing import CliRunner

    from api.cli import build_app
    from api.cli.service import _celery_args, gpu_count

    args = _celery_args("cpu-1", 2, ["--loglevel", "INFO"])
    assert args[1:6] == ["-m", "celery", "-A", "worker.service.celery_app", "worker"]
    assert "--pool=prefork" in args and "--concurrency=2" in args
    monkeypatch.setenv("CUDA_VISIBLE_DEVICES", "0,3")
    assert gpu_count() == 2
    monkeypatch.setenv("CUDA_VISIBLE_DEVICES", "")
    result = CliRunner().invoke(build_app(), ["worker", "--gpu"])
    assert result.exit_code == 2 and "no GPU found" in result.output
    help_text = CliRunner().invoke(build_app(), ["--help"]).output
    assert "serve" in help_text and "worker" in help_text
