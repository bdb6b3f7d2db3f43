"""thidua.logs: one JSON object per line, each with the request id of its context."""

from __future__ import annotations

import io
import json
import logging
from collections.abc import Iterator

import pytest

from thidua import logs


@pytest.fixture
def root_restored() -> Iterator[None]:
    root = logging.getLogger()
    handlers, level = list(root.handlers), root.level
    yield
    for handler in list(root.handlers):
        root.removeHandler(handler)
    for handler in handlers:
        root.addHandler(handler)
    root.setLevel(level)


def test_json_lines_carry_the_request_id_and_the_extra_fields(root_restored: None) -> None:
    out = io.StringIO()
    logs.configure("INFO", "json", stream=out)
    token = logs.REQUEST_ID.set("req-1")
    try:
        logging.getLogger("thidua.test").info("blocked %s", "t-1", extra={"status": 409})
    finally:
        logs.REQUEST_ID.reset(token)
    logging.getLogger("thidua.test").warning("outside a request")
    logging.getLogger("thidua.test").debug("below the level")
    first, second = (json.loads(line) for line in out.getvalue().splitlines())
    assert {k: first[k] for k in ("level", "logger", "message", "request_id", "status")} == {
        "level": "INFO", "logger": "thidua.test", "message": "blocked t-1", "request_id": "req-1", "status": 409}
    assert first["time"][:2] == "20"
    assert (second["level"], second["request_id"]) == ("WARNING", None)


def test_text_format_for_people_and_unknown_formats_refused(root_restored: None) -> None:
    out = io.StringIO()
    logs.configure("INFO", "text", stream=out)
    logging.getLogger("thidua.test").info("hello")
    assert out.getvalue().rstrip().endswith("INFO thidua.test: hello")
    with pytest.raises(ValueError, match="unknown log format"):
        logs.configure("INFO", "xml")
