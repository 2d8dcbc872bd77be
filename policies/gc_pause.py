"""Pausing Python's cyclic garbage collector around bulk work on big object sets.

A sync holds a few hundred thousand dicts (the objects read) and builds as many again (the
posture, the rows). None of them form reference cycles, yet every few thousand allocations
the collector rescans the whole growing heap: on a 150,000-pod mesh that is most of the
CPU time. Reference counting still frees everything as usual; the collector runs once after.
"""

from __future__ import annotations

import gc
from collections.abc import Iterator
from contextlib import contextmanager


@contextmanager
def gc_paused() -> Iterator[None]:
    """Run the block without cyclic GC passes (nesting is fine); restore the state after."""
    was_enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if was_enabled:
            gc.enable()
