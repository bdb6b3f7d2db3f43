"""Process settings, read from the environment (pydantic-settings).

| field               | env                       | default            |
|---------------------|---------------------------|--------------------|
| database_url        | DATABASE_URL              | None (embedded PG) |
| temporal_address    | TEMPORAL_ADDRESS          | None (dev server)  |
| temporal_namespace  | TEMPORAL_NAMESPACE        | "default"          |
| data_dir            | THIDUA_DATA_DIR           | .thidua            |
| api_host            | THIDUA_API_HOST           | 127.0.0.1          |
| api_port            | THIDUA_API_PORT           | 8000               |
| log_level           | THIDUA_LOG_LEVEL          | INFO               |
| log_format          | THIDUA_LOG_FORMAT         | json               |
| api_metrics_address | THIDUA_API_METRICS_ADDRESS | None (/metrics on the API port) |
| worker_metrics_address | THIDUA_WORKER_METRICS_ADDRESS | None (no /metrics) |
| projector_metrics_address | THIDUA_PROJECTOR_METRICS_ADDRESS | None (no /metrics) |
| task_queue          | THIDUA_TASK_QUEUE         | thidua-targets     |
| temporal_ui_port    | THIDUA_TEMPORAL_UI_PORT   | 8233               |
| temporal_port       | THIDUA_TEMPORAL_PORT      | 7233               |
| operation_wait_seconds | THIDUA_OPERATION_WAIT_SECONDS | 5.0          |
| webhooks_allow_private | THIDUA_WEBHOOKS_ALLOW_PRIVATE | false          |
| smtp_url            | THIDUA_SMTP_URL           | None (no e-mail)   |
| smtp_from           | THIDUA_SMTP_FROM          | thidua@localhost   |
| public_url          | THIDUA_PUBLIC_URL         | http://127.0.0.1:8000 |
| cors_allow_origins  | THIDUA_CORS_ALLOW_ORIGINS | None (no CORS)     |
| traces_exporter     | THIDUA_TRACES_EXPORTER    | None (otlp when OTEL_EXPORTER_OTLP_[TRACES_]ENDPOINT is set, else off) |
| reminder_floor      | THIDUA_REMINDER_FLOOR     | PT1H (ISO 8601, ≥ PT1S) |
| auth_failures_per_minute | THIDUA_AUTH_FAILURES_PER_MINUTE | 20 (per user id; ×10 per address) |
| heartbeat_seconds   | THIDUA_HEARTBEAT_SECONDS  | 5.0                |
| worker_stuck_seconds | THIDUA_WORKER_STUCK_SECONDS | 60.0             |
| statement_timeout   | THIDUA_STATEMENT_TIMEOUT  | 30.0 (seconds; 0: no bound) |

Env names are case-insensitive; an empty variable counts as unset. Fields can also be passed by
name: `Settings(database_url=...)`.
"""

from __future__ import annotations

import logging
from datetime import timedelta
from functools import lru_cache
from pathlib import Path
from typing import Any, Literal

from pydantic import Field, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

LOG_LEVELS = ("CRITICAL", "ERROR", "WARNING", "INFO", "DEBUG")
_LOG_LEVEL_SYNONYMS = {"WARN": "WARNING", "FATAL": "CRITICAL"}


class Settings(BaseSettings):
    # Each field's env name is its validation_alias, and only that name is read (so
    # DATABASE_URL has no prefix, and THIDUA_DATABASE_URL means nothing). Do not turn on
    # validate_by_name: pydantic-settings would then also read THIDUA_<FIELD> from the
    # environment. Keyword arguments by field name are mapped to the aliases in __init__.
    model_config = SettingsConfigDict(
        env_prefix="THIDUA_",
        case_sensitive=False,
        env_ignore_empty=True,
        extra="ignore",
        validate_default=True,
    )

    def __init__(self, **values: Any) -> None:
        """`Settings(api_port=9000)` as well as `Settings(THIDUA_API_PORT=9000)`."""
        for name, field in type(self).model_fields.items():
            alias = field.validation_alias
            if name in values and isinstance(alias, str) and alias not in values:
                values[alias] = values.pop(name)
        super().__init__(**values)

    database_url: str | None = Field(default=None, validation_alias="DATABASE_URL")
    temporal_address: str | None = Field(default=None, validation_alias="TEMPORAL_ADDRESS")
    temporal_namespace: str = Field(default="default", validation_alias="TEMPORAL_NAMESPACE")
    data_dir: Path = Field(default=Path(".thidua"), validation_alias="THIDUA_DATA_DIR")
    api_host: str = Field(default="127.0.0.1", validation_alias="THIDUA_API_HOST")
    api_port: int = Field(default=8000, ge=1, le=65535, validation_alias="THIDUA_API_PORT")
    log_level: str = Field(default="INFO", validation_alias="THIDUA_LOG_LEVEL")
    # One JSON object per line (for log collectors), or "text" for people.
    log_format: Literal["json", "text"] = Field(default="json", validation_alias="THIDUA_LOG_FORMAT")
    task_queue: str = Field(default="thidua-targets", min_length=1, validation_alias="THIDUA_TASK_QUEUE")
    # Fixed (the Temporal CLI's own defaults), so every `thidua up` prints the same addresses.
    temporal_ui_port: int = Field(default=8233, ge=1, le=65535, validation_alias="THIDUA_TEMPORAL_UI_PORT")
    temporal_port: int = Field(default=7233, ge=1, le=65535, validation_alias="THIDUA_TEMPORAL_PORT")
    # Where each process serves Prometheus /metrics, as host:port. The API's /metrics moves
    # off the public port when set; the worker (Temporal SDK metrics) and the projector serve
    # none unless set.
    api_metrics_address: str | None = Field(default=None, validation_alias="THIDUA_API_METRICS_ADDRESS")
    worker_metrics_address: str | None = Field(default=None, validation_alias="THIDUA_WORKER_METRICS_ADDRESS")
    projector_metrics_address: str | None = Field(default=None, validation_alias="THIDUA_PROJECTOR_METRICS_ADDRESS")
    # Workflows the worker keeps in memory (see thidua.workflows.worker.DEFAULT_MAX_CACHED_WORKFLOWS).
    worker_max_cached_workflows: int = Field(
        default=2500, ge=0, validation_alias="THIDUA_WORKER_MAX_CACHED_WORKFLOWS"
    )
    # How long a campaign-wide route (close, policy, scoring, reopen) waits for its
    # operation before answering 202 with a link to its progress.
    operation_wait_seconds: float = Field(default=5.0, ge=0, le=60, validation_alias="THIDUA_OPERATION_WAIT_SECONDS")
    # Run the workflows in Temporal's sandbox (see thidua.workflows.worker: the tests always do).
    workflow_sandbox: bool = Field(default=False, validation_alias="THIDUA_WORKFLOW_SANDBOX")
    # Webhook URLs on private, loopback or link-local addresses (thidua.workflows.webhook_urls):
    # refused unless this is set (tests, `make up` on one machine).
    webhooks_allow_private: bool = Field(default=False, validation_alias="THIDUA_WEBHOOKS_ALLOW_PRIVATE")
    # E-mail notifications (thidua.workflows.mail): smtp://[user:password@]host[:port] or smtps://...
    smtp_url: str | None = Field(default=None, validation_alias="THIDUA_SMTP_URL")
    smtp_from: str = Field(default="thidua@localhost", validation_alias="THIDUA_SMTP_FROM")
    # Where people reach the API and its pages: the base of the links in e-mails.
    public_url: str = Field(default="http://127.0.0.1:8000", validation_alias="THIDUA_PUBLIC_URL")
    # Web origins whose scripts may call the JSON API with a bearer token, comma-separated
    # (https://portal.example.gov.vn,https://...). Off when unset: no CORS headers at all.
    cors_allow_origins: str | None = Field(default=None, validation_alias="THIDUA_CORS_ALLOW_ORIGINS")
    # Where OpenTelemetry traces go (thidua/tracing.py): "otlp" (to OTEL_EXPORTER_OTLP_*),
    # "console" (spans printed on stdout), "none"; unset: otlp when an OTLP endpoint is set.
    traces_exporter: Literal["otlp", "console", "none"] | None = Field(
        default=None, validation_alias="THIDUA_TRACES_EXPORTER")
    # The worker's floor on repeating reminders (an escalation's SLA reminder, a stale
    # reminder): however short a campaign's policy, one target is reminded at most this often.
    reminder_floor: timedelta = Field(default=timedelta(hours=1), ge=timedelta(seconds=1),
                                      validation_alias="THIDUA_REMINDER_FLOOR")

    # Failed bearer tokens a user id may collect in a minute before its tokens are refused
    # with 429 and Retry-After; one client address may collect ten times as many (an
    # office shares its address). The tests, which send bad tokens on purpose, set more.
    auth_failures_per_minute: int = Field(default=20, ge=1, validation_alias="THIDUA_AUTH_FAILURES_PER_MINUTE")
    # The worker and the projector write a heartbeat this often (thidua.heartbeats); /healthz
    # calls one stale after four missed beats.
    heartbeat_seconds: float = Field(default=5.0, gt=0, le=300, validation_alias="THIDUA_HEARTBEAT_SECONDS")
    # A worker none of whose activity threads has been free for this long is stuck:
    # /healthz says so and `thidua up` restarts it. Longer than any activity may run.
    worker_stuck_seconds: float = Field(default=60.0, gt=0, validation_alias="THIDUA_WORKER_STUCK_SECONDS")
    # The longest one SQL statement may run on the API's and the worker's connections
    # (thidua.statement_timeout); PostgreSQL cancels it then and its transaction rolls
    # back. 0: no bound. The projector's connections have none (a rebuild runs long).
    statement_timeout: float = Field(default=30.0, ge=0, le=3600, validation_alias="THIDUA_STATEMENT_TIMEOUT")
    # The largest evidence file accepted (bytes); a larger upload is a 413.
    evidence_max_bytes: int = Field(default=20 * 1024 * 1024, ge=1, validation_alias="THIDUA_EVIDENCE_MAX_BYTES")

    @field_validator("log_level", mode="before")
    @classmethod
    def _check_log_level(cls, value: object) -> str:
        if isinstance(value, int) and not isinstance(value, bool):
            name = logging.getLevelName(value)
            if name in LOG_LEVELS:
                return name
            raise ValueError(f"unknown log level {value!r}; expected one of {', '.join(LOG_LEVELS)}")
        if not isinstance(value, str):
            raise ValueError("log level must be a string such as 'INFO'")
        level = value.strip().upper()
        level = _LOG_LEVEL_SYNONYMS.get(level, level)
        if level not in LOG_LEVELS:
            raise ValueError(f"unknown log level {value!r}; expected one of {', '.join(LOG_LEVELS)}")
        return level

    @field_validator("database_url", "temporal_address", mode="before")
    @classmethod
    def _blank_is_none(cls, value: object) -> object:
        if isinstance(value, str) and not value.strip():
            return None
        return value.strip() if isinstance(value, str) else value

    @field_validator("api_metrics_address", "worker_metrics_address", "projector_metrics_address", mode="before")
    @classmethod
    def _check_address(cls, value: object) -> object:
        if value is None or (isinstance(value, str) and not value.strip()):
            return None
        host, port = split_address(str(value))
        return f"{host}:{port}"

    @field_validator("cors_allow_origins", mode="before")
    @classmethod
    def _check_origins(cls, value: object) -> object:
        if value is None or (isinstance(value, str) and not value.strip()):
            return None
        origins = [o.strip().rstrip("/") for o in str(value).split(",") if o.strip()]
        for origin in origins:
            scheme, sep, rest = origin.partition("://")
            if scheme not in ("http", "https") or not sep or not rest or "/" in rest or "*" in rest:
                raise ValueError(f"{origin!r} is not an origin (scheme://host[:port], no path, no wildcard)")
        return ",".join(origins)

    @property
    def cors_origins(self) -> list[str]:
        return self.cors_allow_origins.split(",") if self.cors_allow_origins else []

    @field_validator("temporal_namespace")
    @classmethod
    def _check_namespace(cls, value: str) -> str:
        if not value.strip():
            raise ValueError("temporal namespace must not be empty")
        return value.strip()

    @property
    def log_level_number(self) -> int:
        """`log_level` as the number the logging module uses."""
        return logging.getLevelNamesMapping()[self.log_level]


def split_address(address: str) -> tuple[str, int]:
    """`host:port` (or `[v6]:port`) as (host, port); ValueError with what is wrong."""
    host, sep, port = address.strip().rpartition(":")
    host = host.strip("[]")
    if not sep or not host or not port.isdigit() or not 1 <= int(port) <= 65535:
        raise ValueError(f"expected host:port (e.g. 127.0.0.1:9100), got {address!r}")
    return host, int(port)


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    """The process-wide settings, read once; `get_settings.cache_clear()` re-reads the env."""
    return Settings()
