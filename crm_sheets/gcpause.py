"""Pause Python's cyclic garbage collector around bulk reading and checking.

Loading a big sheet allocates millions of small containers that hold no reference
cycles; each allocation burst triggers collections that re-walk everything already
loaded (measured: a third of `load` on the 100k benchmark). Reference counting still
frees memory while the collector is paused; it is resumed, as it was, on exit.
"""

from __future__ import annotations

import gc
from collections.abc import Iterator
from contextlib import contextmanager


@contextmanager
def paused_gc() -> Iterator[None]:
    """Disable the cyclic collector for the block (nesting-safe)."""
    was_enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if was_enabled:
            gc.enable()
