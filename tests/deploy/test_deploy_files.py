"""Static checks of deploy/ (CI has no Docker engine): services, env names, Dockerfile paths."""

from __future__ import annotations

import re

import yaml

from scangrade.settings import Settings
from tests.helpers.paths import REPO_ROOT

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
    assert settings.api_tokens == ()  # fail closed until real entries are made
    assert settings.broker_visibility_timeout_s > settings.task_time_limit_s


def test_dockerfile_base_image_and_copied_paths_exist() -> None:
    text = (DEPLOY / "Dockerfile").read_text()
    assert text.startswith("#") and "FROM python:3.11-slim" in text
    assert "poppler-utils" in text
    for source in re.findall(r"^COPY (\S+) ", text, flags=re.MULTILINE):
        if "*" not in source:
            assert (REPO_ROOT / source).exists(), source
