"""Static checks of deploy/ (CI has no Docker engine) and the service's pure parts."""

from __future__ import annotations

import re

import pytest
import yaml

from scangrade.settings import Settings
from tests.helpers.paths import REPO_ROOT
from worker.scan.results import PageResult, PageStatus
from worker.service.storage import ChunkRange, JobManifest, Storage, plan_chunks, safe_filename

DEPLOY = REPO_ROOT / "deploy"
SETTING_ENV = re.compile(r"\bSCANGRADE_([A-Z0-9_]+)")


def compose() -> dict:
    return yaml.safe_load((DEPLOY / "compose.yaml").read_text())


def test_compose_has_redis_api_cpu_worker_and_gpu_profile() -> None:
    services = compose()["services"]
    assert {"redis", "api", "worker", "gpu-worker"} <= set(services)
    assert "appendonly" in " ".join(services["redis"]["command"])  # persistent Redis
    assert services["gpu-worker"]["profiles"] == ["gpu"]
    assert services["gpu-worker"]["build"]["args"]["EXTRAS"] == "gpu"
    devices = services["gpu-worker"]["deploy"]["resources"]["reservations"]["devices"]
    assert devices[0]["capabilities"] == ["gpu"]
    assert "--gpu" in services["gpu-worker"]["command"]
    for name in ("api", "worker", "gpu-worker"):
        assert any(volume.startswith("storage:") for volume in services[name]["volumes"])
        assert services[name]["environment"]["SCANGRADE_REDIS_URL"].startswith("redis://redis")
    assert "profiles" not in services["worker"]  # the CPU worker runs by default


def test_every_scangrade_env_name_in_deploy_is_a_setting() -> None:
    fields = set(Settings.model_fields)
    for path in [
        DEPLOY / "compose.yaml",
        DEPLOY / ".env.example",
        DEPLOY / "Dockerfile",
        DEPLOY / "GPU_WORKERS.md",
    ]:
        names = {match.lower() for match in SETTING_ENV.findall(path.read_text())}
        assert names, path
        assert names <= fields, f"{path.name}: not settings: {sorted(names - fields)}"


def test_env_example_parses_into_settings(monkeypatch) -> None:
    for line in (DEPLOY / ".env.example").read_text().splitlines():
        if line and not line.startswith("#"):
            name, value = line.split("=", 1)
            monkeypatch.setenv(name, value)
    settings = Settings()
    assert settings.api_tokens == ("change-me-1", "change-me-2")
    assert settings.broker_visibility_timeout_s > settings.task_time_limit_s


def test_dockerfile_base_image_and_copied_paths_exist() -> None:
    text = (DEPLOY / "Dockerfile").read_text()
    assert text.startswith("#") and "FROM python:3.11-slim" in text
    assert "poppler-utils" in text
    for source in re.findall(r"^COPY (\S+) ", text, flags=re.MULTILINE):
        if "*" not in source:
            assert (REPO_ROOT / source).exists(), source


def test_default_settings_are_consistent() -> None:
    settings = Settings(_env_file=None)
    assert settings.api_tokens == ()  # fail closed until tokens are configured
    assert settings.task_soft_time_limit_s < settings.task_time_limit_s
    assert settings.broker_visibility_timeout_s > settings.task_time_limit_s


def test_tokens_setting_is_comma_separated(monkeypatch) -> None:
    monkeypatch.setenv("SCANGRADE_API_TOKENS", " a1, b2 ,,c3")
    assert Settings(_env_file=None).api_tokens == ("a1", "b2", "c3")


def test_celery_app_is_configured_for_at_least_once_delivery() -> None:
    from worker.service.celery_app import create_celery_app

    settings = Settings(
        _env_file=None, redis_url="redis://127.0.0.1:1/0", broker_visibility_timeout_s=77
    )
    conf = create_celery_app(settings).conf
    assert conf.task_acks_late and conf.task_reject_on_worker_lost
    assert conf.worker_prefetch_multiplier == 1
    assert conf.accept_content == ["json"] and conf.task_serializer == "json"
    assert conf.broker_transport_options["visibility_timeout"] == 77
    assert conf.task_time_limit == settings.task_time_limit_s


@pytest.mark.parametrize(
    ("pages", "size", "expected"),
    [(1, 16, [(1, 1)]), (5, 2, [(1, 2), (3, 4), (5, 5)]), (4, 2, [(1, 2), (3, 4)])],
)
def test_plan_chunks_covers_every_page_once(pages, size, expected) -> None:
    chunks = plan_chunks(pages, size)
    assert [(chunk.first, chunk.last) for chunk in chunks] == expected
    assert sum(chunk.n_pages for chunk in chunks) == pages


def test_plan_chunks_rejects_nonsense() -> None:
    with pytest.raises(ValueError, match="n_pages"):
        plan_chunks(0, 4)


@pytest.mark.parametrize(
    ("name", "safe"),
    [
        ("scans.pdf", "scans.pdf"),
        ("../../etc/passwd", "passwd.pdf"),
        ("Klasse 7b.PDF", "Klasse_7b.PDF"),
        ("", "scans.pdf"),
        ("C:\\Users\\me\\a.pdf", "a.pdf"),
        ("...", "scans.pdf"),
    ],
)
def test_safe_filename(name, safe) -> None:
    assert safe_filename(name) == safe


def test_writing_a_chunk_twice_leaves_one_copy(tmp_path) -> None:
    storage = Storage(tmp_path)
    job_id = "J" * 22
    manifest = JobManifest(job_id, "E" * 22, "scans.pdf", 3, 10, 0.0)
    staged = tmp_path / "upload.pdf"
    staged.write_bytes(b"%PDF-1.7")
    storage.publish_job(staged, manifest)
    chunk = ChunkRange(1, 2)
    pages = [
        PageResult(source_page=n, status=PageStatus.BLANK_PAGE, message="blank") for n in (1, 2)
    ]
    storage.write_chunk(job_id, chunk, pages)
    first = storage.chunk_path(job_id, chunk).read_bytes()
    storage.write_chunk(job_id, chunk, pages)
    assert storage.chunk_path(job_id, chunk).read_bytes() == first
    assert [p.name for p in storage.pages_dir(job_id).iterdir()] == ["00001-00002.jsonl"]
    assert storage.load_pages(job_id, [chunk]) == pages
    assert storage.missing_chunks(job_id, [chunk, ChunkRange(3, 3)]) == [ChunkRange(3, 3)]


def test_storage_refuses_ids_that_are_not_ours(tmp_path) -> None:
    with pytest.raises(ValueError, match="not a valid id"):
        Storage(tmp_path).job_dir("../../etc")


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
