"""An import is cut into chunks (one AssignBatchWorkflow each): a small first one, so the
first workflows start early, then doubling up to full ones, so each chunk is saved while
the workflows of the ones before it start; always the same cut for the same rows."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from thidua.workflows.client import assign_chunks


def test_an_import_of_2000_rows_starts_small_and_grows_to_full_chunks():
    chunks = assign_chunks(list(range(2000)), 250, 25)
    assert [len(c) for c in chunks] == [25, 50, 100, 200, 250, 250, 250, 250, 250, 250, 125]


def test_a_small_import_is_one_chunk():
    assert assign_chunks(list("abc"), 250, 25) == [["a", "b", "c"]]
    assert assign_chunks([], 250, 25) == []


@given(st.lists(st.integers(), max_size=600), st.integers(1, 300), st.integers(-5, 400))
def test_chunks_keep_every_row_in_order_and_grow_by_doubling_up_to_the_size(rows, size, first):
    chunks = assign_chunks(rows, size, first)
    assert [row for chunk in chunks for row in chunk] == rows
    assert all(chunks) and all(len(c) <= size for c in chunks)
    if len(chunks) > 1:
        assert len(chunks[0]) == max(1, min(size, first))
        full = [len(c) for c in chunks[:-1]]  # every chunk but the last is as long as its turn allows
        assert all(b == min(size, 2 * a) for a, b in zip(full, full[1:]))
    assert assign_chunks(list(rows), size, first) == chunks
