"""Length bucketing: every row exactly once, limits respected."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from harness.kinds.base import length_bucketed_batches


@given(
    st.lists(st.integers(min_value=1, max_value=300), max_size=200),
    st.integers(min_value=1, max_value=64),
    st.one_of(st.none(), st.integers(min_value=1, max_value=4096)),
)
def test_batches_cover_every_row_once_within_limits(
    lengths: list[int], batch_size: int, budget: int | None
) -> None:
    batches = length_bucketed_batches(lengths, batch_size, budget)
    flat = [i for batch in batches for i in batch]
    assert sorted(flat) == list(range(len(lengths)))
    for batch in batches:
        assert 1 <= len(batch) <= batch_size
        longest = max(lengths[i] for i in batch)
        if budget is not None and len(batch) > 1:
            assert len(batch) * longest <= budget
        assert all(lengths[i] >= 0.9 * longest for i in batch)  # padding stays under 10 %
