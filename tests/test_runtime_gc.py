"""A serving process (``parlay serve``, ``api``, ``worker``) keeps the cyclic garbage collector
off its event loop's back: what start-up built is frozen out of its reach, and the youngest
generation is collected every ``YOUNG_COLLECTION_THRESHOLD`` allocations, so the objects of a
batch in flight die young instead of filling the old generation (docs/architecture.md,
"Garbage collection in a serving process")."""

from __future__ import annotations

import gc

from parlay.runtime import YOUNG_COLLECTION_THRESHOLD, freeze_startup_heap


def test_start_up_freezes_the_heap_and_collects_the_young_generation_less_often() -> None:
    before = gc.get_threshold()
    try:
        freeze_startup_heap()

        assert gc.get_freeze_count() > 0
        assert gc.get_threshold() == (YOUNG_COLLECTION_THRESHOLD, before[1], before[2])
        assert before[0] < YOUNG_COLLECTION_THRESHOLD
    finally:
        gc.unfreeze()
        gc.set_threshold(*before)
