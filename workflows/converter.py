"""thidua's Temporal data converter: pydantic JSON, with one type-adapter cache per process.

`temporalio.contrib.pydantic.pydantic_data_converter` caches a `TypeAdapter` per type
inside its payload converter, but the worker builds a new payload converter for every
workflow instance: each new (or re-cached) workflow rebuilt the adapters of
`WorkflowStart`, `AssignRequest`, `Applied`... (measured: ~16% of the worker's CPU during
a bulk import) and kept its own copies in memory for as long as it stayed cached.
Here every converter instance shares one process-wide cache. Sharing is safe: the
message types are plain dataclasses passed through the sandbox (the same class objects
inside and outside), and a TypeAdapter is immutable once built.
"""

from __future__ import annotations

import functools
from typing import Any

from pydantic import TypeAdapter
from temporalio.contrib.pydantic import PydanticJSONPlainPayloadConverter
from temporalio.converter import (
    CompositePayloadConverter,
    DataConverter,
    DefaultPayloadConverter,
    JSONPlainPayloadConverter,
)

# Keyed by type hint; thidua has a few dozen distinct hints, so this never evicts.
_TYPE_ADAPTERS: Any = functools.lru_cache(maxsize=1024)(TypeAdapter)


class _SharedCachePydanticJSON(PydanticJSONPlainPayloadConverter):
    def __init__(self) -> None:
        super().__init__()
        self._type_adapter = _TYPE_ADAPTERS


class ThiduaPayloadConverter(CompositePayloadConverter):
    """Temporal's default converters with pydantic JSON in place of plain JSON (the same
    wire format as `pydantic_data_converter`); nullary, as Temporal requires."""

    def __init__(self) -> None:
        json_converter = _SharedCachePydanticJSON()
        super().__init__(*(
            json_converter if isinstance(c, JSONPlainPayloadConverter) else c
            for c in DefaultPayloadConverter.default_encoding_payload_converters
        ))


data_converter = DataConverter(payload_converter_class=ThiduaPayloadConverter)

__all__ = ["ThiduaPayloadConverter", "data_converter"]
