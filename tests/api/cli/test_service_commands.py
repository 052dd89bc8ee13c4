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


def test_token_command_makes_a_token_and_its_hashed_entry(monkeypatch) -> None:
    """`scangrade token ada`: a token to give the teacher and the settings line that lets
    exactly that token in, as ada, without the token itself."""
    from typer.testing import CliRunner

    from api.cli import build_app
    from scangrade.settings import Settings
    from scangrade.tokens import teacher_of

    result = CliRunner().invoke(build_app(), ["token", "ada"])
    assert result.exit_code == 0, result.output
    lines = [line.strip() for line in result.output.splitlines()]
    made = lines[lines.index(next(x for x in lines if x.startswith("token for ada"))) + 1]
    entry = next(x for x in lines if x.startswith("ada:"))
    assert made not in entry
    monkeypatch.setenv("SCANGRADE_API_TOKENS", entry)
    settings = Settings(_env_file=None)
    assert teacher_of(settings.api_tokens, made) == "ada"
    assert teacher_of(settings.api_tokens, made + "x") is None
    bad = CliRunner().invoke(build_app(), ["token", "a teacher"])
    assert bad.exit_code == 2 and "letters, digits" in bad.output


def test_review_command_refuses_a_folder_that_is_not_a_report(tmp_path) -> None:
    from typer.testing import CliRunner

    from api.cli import build_app

    result = CliRunner().invoke(build_app(), ["review", str(tmp_path), "--no-browser"])
    assert result.exit_code == 2 and "is not a folder `scangrade grade` wrote" in result.output
    missing = CliRunner().invoke(build_app(), ["review", str(tmp_path / "nowhere")])
    assert missing.exit_code == 2 and "no such folder" in missing.output
