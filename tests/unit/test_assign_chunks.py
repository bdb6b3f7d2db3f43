"""An import is cut into chunks (one AssignBatchWorkflow each): a small first one, so the
first workflows start early, then full ones; always the same cut for the same rows."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from workflows.client import assign_chunks


def test_an_import_of_2000_rows_starts_with_a_small_chunk():
    chunks = assign_chunks(list(range(2000)), 250, 25)
    assert [len(c) for c in chunks] == [25, 250, 250, 250, 250, 250, 250, 250, 225]


def test_a_small_import_is_one_chunk():
    assert assign_chunks(list("abc"), 250, 25) == [["a", "b", "c"]]
    assert assign_chunks([], 250, 25) == []


@given(st.lists(st.integers(), max_size=600), st.integers(1, 300), st.integers(-5, 400))
def test_chunks_keep_every_row_in_order_within_their_sizes(rows, size, first):
    chunks = assign_chunks(rows, size, first)
    assert [row for chunk in chunks for row in chunk] == rows
    assert all(chunks) and all(len(c) <= size for c in chunks)
    if len(chunks) > 1:
        assert len(chunks[0]) == max(1, min(size, first))
        assert all(len(c) == size for c in chunks[1:-1])
    assert assign_chunks(list(rows), size, first) == chunks
