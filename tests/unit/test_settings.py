from __future__ import annotations

import os
from datetime import timedelta
from pathlib import Path

import pytest
from pydantic import ValidationError

from thidua.settings import Settings, get_settings

ENV_TO_FIELD = {
    "DATABASE_URL": ("database_url", "postgresql://u:p@db:5432/thidua", "postgresql://u:p@db:5432/thidua"),
    "TEMPORAL_ADDRESS": ("temporal_address", "temporal:7233", "temporal:7233"),
    "TEMPORAL_NAMESPACE": ("temporal_namespace", "thidua", "thidua"),
    "THIDUA_DATA_DIR": ("data_dir", "/var/lib/thidua", Path("/var/lib/thidua")),
    "THIDUA_API_HOST": ("api_host", "0.0.0.0", "0.0.0.0"),
    "THIDUA_API_PORT": ("api_port", "9001", 9001),
    "THIDUA_LOG_LEVEL": ("log_level", "debug", "DEBUG"),
    "THIDUA_TASK_QUEUE": ("task_queue", "q2", "q2"),
    "THIDUA_TEMPORAL_UI_PORT": ("temporal_ui_port", "18233", 18233),
    "THIDUA_TEMPORAL_PORT": ("temporal_port", "17233", 17233),
    "THIDUA_WORKER_MAX_CACHED_WORKFLOWS": ("worker_max_cached_workflows", "2500", 2500),
    "THIDUA_WORKFLOW_SANDBOX": ("workflow_sandbox", "true", True),
    "THIDUA_OPERATION_WAIT_SECONDS": ("operation_wait_seconds", "2.5", 2.5),
    "THIDUA_LOG_FORMAT": ("log_format", "text", "text"),
    "THIDUA_API_METRICS_ADDRESS": ("api_metrics_address", "0.0.0.0:9100", "0.0.0.0:9100"),
    "THIDUA_WORKER_METRICS_ADDRESS": ("worker_metrics_address", "127.0.0.1:9101", "127.0.0.1:9101"),
    "THIDUA_PROJECTOR_METRICS_ADDRESS": ("projector_metrics_address", "[::1]:9102", "::1:9102"),
    "THIDUA_WEBHOOKS_ALLOW_PRIVATE": ("webhooks_allow_private", "true", True),
    "THIDUA_SMTP_URL": ("smtp_url", "smtp://mail:25", "smtp://mail:25"),
    "THIDUA_SMTP_FROM": ("smtp_from", "a@b.vn", "a@b.vn"),
    "THIDUA_PUBLIC_URL": ("public_url", "https://thidua.example", "https://thidua.example"),
    "THIDUA_REMINDER_FLOOR": ("reminder_floor", "PT2S", timedelta(seconds=2)),
    "THIDUA_AUTH_FAILURES_PER_MINUTE": ("auth_failures_per_minute", "500", 500),
    "THIDUA_HEARTBEAT_SECONDS": ("heartbeat_seconds", "1.5", 1.5),
    "THIDUA_WORKER_STUCK_SECONDS": ("worker_stuck_seconds", "10", 10.0),
    "THIDUA_CORS_ALLOW_ORIGINS": ("cors_allow_origins", "https://a.gov.vn/, http://b:8080",
                                  "https://a.gov.vn,http://b:8080"),
    "THIDUA_TRACES_EXPORTER": ("traces_exporter", "console", "console"),
    "THIDUA_EVIDENCE_MAX_BYTES": ("evidence_max_bytes", "1048576", 1048576),
    "THIDUA_STATEMENT_TIMEOUT": ("statement_timeout", "2.5", 2.5),
}

DEFAULTS = {
    "database_url": None,
    "temporal_address": None,
    "temporal_namespace": "default",
    "data_dir": Path(".thidua"),
    "api_host": "127.0.0.1",
    "api_port": 8000,
    "log_level": "INFO",
    "task_queue": "thidua-targets",
    "temporal_ui_port": 8233,
    "temporal_port": 7233,
    "worker_max_cached_workflows": 2500,
    "workflow_sandbox": False,
    "operation_wait_seconds": 5.0,
    "log_format": "json",
    "api_metrics_address": None,
    "worker_metrics_address": None,
    "projector_metrics_address": None,
    "webhooks_allow_private": False,
    "smtp_url": None,
    "smtp_from": "thidua@localhost",
    "public_url": "http://127.0.0.1:8000",
    "cors_allow_origins": None,
    "traces_exporter": None,
    "reminder_floor": timedelta(hours=1),
    "auth_failures_per_minute": 20,
    "heartbeat_seconds": 5.0,
    "worker_stuck_seconds": 60.0,
    "evidence_max_bytes": 20 * 1024 * 1024,
    "statement_timeout": 30.0,
}


@pytest.fixture(autouse=True)
def clean_env(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in list(os.environ):
        if name.upper() in ENV_TO_FIELD or name.upper().startswith(("THIDUA_", "TEMPORAL_")):
            monkeypatch.delenv(name)
    get_settings.cache_clear()
    yield
    get_settings.cache_clear()


def test_defaults() -> None:
    settings = Settings()
    assert {name: getattr(settings, name) for name in DEFAULTS} == DEFAULTS
    assert set(Settings.model_fields) == set(DEFAULTS)


@pytest.mark.parametrize("env_name", sorted(ENV_TO_FIELD))
def test_env_name_maps_to_field(monkeypatch: pytest.MonkeyPatch, env_name: str) -> None:
    field, raw, expected = ENV_TO_FIELD[env_name]
    monkeypatch.setenv(env_name, raw)
    settings = Settings()
    assert getattr(settings, field) == expected
    others = {k: v for k, v in DEFAULTS.items() if k != field}
    assert {k: getattr(settings, k) for k in others} == others


def test_all_env_names_together(monkeypatch: pytest.MonkeyPatch) -> None:
    for env_name, (_, raw, _) in ENV_TO_FIELD.items():
        monkeypatch.setenv(env_name, raw)
    settings = Settings()
    assert {f: getattr(settings, f) for f, _, _ in ENV_TO_FIELD.values()} == {
        f: expected for f, _, expected in ENV_TO_FIELD.values()
    }


def test_prefixed_field_names_are_not_read(monkeypatch: pytest.MonkeyPatch) -> None:
    # DATABASE_URL has no THIDUA_ prefix; THIDUA_DATABASE_URL means nothing.
    monkeypatch.setenv("THIDUA_DATABASE_URL", "postgresql://wrong")
    monkeypatch.setenv("API_PORT", "1234")
    settings = Settings()
    assert settings.database_url is None
    assert settings.api_port == 8000


def test_empty_env_counts_as_unset(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DATABASE_URL", "")
    monkeypatch.setenv("THIDUA_TEMPORAL_PORT", "")
    settings = Settings()
    assert settings.database_url is None
    assert settings.temporal_port == 7233


def test_keyword_arguments_by_field_name() -> None:
    settings = Settings(database_url="postgresql://x/y", api_port=1234, log_level="warning")
    assert (settings.database_url, settings.api_port, settings.log_level) == ("postgresql://x/y", 1234, "WARNING")


@pytest.mark.parametrize(("raw", "expected"), [("info", "INFO"), (" Warn ", "WARNING"), ("ERROR", "ERROR"), ("critical", "CRITICAL")])
def test_log_level_is_normalised(monkeypatch: pytest.MonkeyPatch, raw: str, expected: str) -> None:
    monkeypatch.setenv("THIDUA_LOG_LEVEL", raw)
    assert Settings().log_level == expected


@pytest.mark.parametrize("raw", ["verbose", "trace", "1"])
def test_invalid_log_level_is_rejected(monkeypatch: pytest.MonkeyPatch, raw: str) -> None:
    monkeypatch.setenv("THIDUA_LOG_LEVEL", raw)
    with pytest.raises(ValidationError, match="log level"):
        Settings()


@pytest.mark.parametrize(("env_name", "raw"), [("THIDUA_API_PORT", "70000"), ("THIDUA_TEMPORAL_PORT", "0"), ("THIDUA_API_PORT", "http")])
def test_invalid_ports_are_rejected(monkeypatch: pytest.MonkeyPatch, env_name: str, raw: str) -> None:
    monkeypatch.setenv(env_name, raw)
    with pytest.raises(ValidationError):
        Settings()


def test_get_settings_is_cached_until_cleared(monkeypatch: pytest.MonkeyPatch) -> None:
    first = get_settings()
    monkeypatch.setenv("THIDUA_API_PORT", "9100")
    assert get_settings() is first
    get_settings.cache_clear()
    assert get_settings().api_port == 9100


@pytest.mark.parametrize("raw", ["9100", "host:", ":9100", "host:http", "host:70000"])
def test_a_metrics_address_is_host_and_port(monkeypatch: pytest.MonkeyPatch, raw: str) -> None:
    monkeypatch.setenv("THIDUA_WORKER_METRICS_ADDRESS", raw)
    with pytest.raises(ValidationError, match="host:port"):
        Settings()


def test_an_unknown_log_format_is_refused(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("THIDUA_LOG_FORMAT", "xml")
    with pytest.raises(ValidationError):
        Settings()


def test_traces_are_off_unless_an_exporter_or_an_otlp_endpoint_is_set(monkeypatch: pytest.MonkeyPatch) -> None:
    from thidua.tracing import exporter_name

    for name in ("OTEL_EXPORTER_OTLP_ENDPOINT", "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT"):
        monkeypatch.delenv(name, raising=False)
    assert exporter_name(Settings()) is None
    monkeypatch.setenv("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT", "http://collector:4318/v1/traces")
    assert exporter_name(Settings()) == "otlp"
    assert exporter_name(Settings(traces_exporter="none")) is None  # an endpoint, but switched off
    assert exporter_name(Settings(traces_exporter="console")) == "console"
    with pytest.raises(ValueError):
        Settings(traces_exporter="zipkin")


@pytest.mark.parametrize("raw", ["PT0.5S", "PT0S", "soon"])
def test_a_reminder_floor_under_a_second_or_not_a_duration_is_refused(monkeypatch: pytest.MonkeyPatch, raw: str) -> None:
    monkeypatch.setenv("THIDUA_REMINDER_FLOOR", raw)
    with pytest.raises(ValidationError):
        Settings()
