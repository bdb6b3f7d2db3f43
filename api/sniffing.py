"""The type of an uploaded file, from its first bytes (magic numbers), never from its
name or the client's Content-Type: `filetype` (pure Python, maintained) reads the
signature; an office document is told apart from a plain zip by the parts it names.
Which types are accepted is declared in thidua.domain.lifecycle.EVIDENCE_TYPES."""

from __future__ import annotations

import filetype

# What filetype reads to decide (an OOXML zip names its parts within its first entries).
HEAD_BYTES = 8192


def content_type_of(head: bytes) -> str | None:
    """The MIME type the bytes are, or None when no known signature matches."""
    kind = filetype.guess(head)
    return None if kind is None else str(kind.mime)
