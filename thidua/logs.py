"""Logging for thidua's processes: one JSON object per line (python-json-logger), or plain
text for people (`thidua up`'s console, THIDUA_LOG_FORMAT=text).

Every record carries `request_id`: the id of the HTTP request being served (the API's
RequestId middleware sets it, from `X-Request-ID` or made up), or of the command a Temporal
update or activity runs for (the interceptors of thidua.workflows.request_ids carry it there), so
one id follows a command through the API, the workflow update and the activity.
"""

from __future__ import annotations

import logging
import sys
from contextvars import ContextVar
from typing import IO, Any

from pythonjsonlogger.json import JsonFormatter

REQUEST_ID: ContextVar[str | None] = ContextVar("thidua_request_id", default=None)
LOG_FORMATS = ("json", "text")
TEXT_FORMAT = "%(asctime)s %(levelname)s %(name)s: %(message)s"
JSON_FIELDS = ("asctime", "levelname", "name", "message", "request_id")


def _stamp_request_ids() -> None:
    """Make every LogRecord carry `request_id` from the context that creates it (installed
    once, at import: records made anywhere, for any handler, have it)."""
    make = logging.getLogRecordFactory()
    if getattr(make, "stamps_request_ids", False):
        return

    def record_with_request_id(*args: Any, **kwargs: Any) -> logging.LogRecord:
        record = make(*args, **kwargs)
        record.request_id = REQUEST_ID.get()
        return record

    record_with_request_id.stamps_request_ids = True  # type: ignore[attr-defined]
    logging.setLogRecordFactory(record_with_request_id)


_stamp_request_ids()


def json_formatter() -> logging.Formatter:
    return JsonFormatter(
        list(JSON_FIELDS),
        rename_fields={"asctime": "time", "levelname": "level", "name": "logger"},
        datefmt="%Y-%m-%dT%H:%M:%S%z",
    )


def configure(level: int | str, log_format: str = "json", stream: IO[str] | None = None) -> logging.Handler:
    """Send every logger's records (uvicorn's and temporalio's too) to one handler on `stream`
    (default stderr), replacing the root logger's handlers."""
    if log_format not in LOG_FORMATS:
        raise ValueError(f"unknown log format {log_format!r}; expected one of {', '.join(LOG_FORMATS)}")
    handler = logging.StreamHandler(stream or sys.stderr)
    handler.setFormatter(json_formatter() if log_format == "json" else logging.Formatter(TEXT_FORMAT))
    root = logging.getLogger()
    for old in list(root.handlers):
        root.removeHandler(old)
    root.addHandler(handler)
    root.setLevel(level)
    return handler
