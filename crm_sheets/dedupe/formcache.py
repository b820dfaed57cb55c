"""The normalised forms of a sheet's company names, kept between runs.

Normalising 100,000 names costs seconds and the names of a customer sheet hardly change
from one save to the next, so the scan worker keeps them in the private state folder,
one file per workbook. The file is only a cache: it is ignored when the normaliser's
code or region data changed (a digest of their sources is part of the file), when it
cannot be read, or when it holds anything unexpected; it is replaced atomically.
"""

from __future__ import annotations

import hashlib
import marshal
import os
import tempfile
from dataclasses import fields
from functools import lru_cache
from pathlib import Path

from . import normalize, region_data
from .normalize import NameForms

FORMAT = 2
_FIELDS = tuple(f.name for f in fields(NameForms))


@lru_cache(maxsize=1)
def code_digest() -> str:
    """What the cached forms depend on: this format and the normaliser's sources."""
    h = hashlib.sha256(f"{FORMAT}".encode())
    import opencc  # traditional → simplified is part of the forms

    for mod in (normalize, region_data, opencc):
        h.update(Path(mod.__file__ or "").read_bytes())
    return h.hexdigest()


def cache_path(workbook: str | Path) -> Path:
    """The cache file of one workbook in the private state folder."""
    from ..home import ensure_private_dir, stable_id, state_root

    return ensure_private_dir(state_root() / "cache") / \
        f"names-{stable_id(str(Path(workbook).resolve()))}.bin"


def load_forms(path: Path) -> dict[str, NameForms]:
    """The cached forms, or {} when there is no usable cache."""
    try:
        data = marshal.loads(path.read_bytes())
    except (OSError, EOFError, ValueError, TypeError):
        return {}
    if not (isinstance(data, tuple) and len(data) == 3 and data[0] == code_digest()
            and isinstance(data[1], list) and isinstance(data[2], list)
            and len(data[2]) == len(_FIELDS)
            and all(isinstance(c, list) and len(c) == len(data[1]) for c in data[2])):
        return {}
    try:
        return dict(zip(data[1], map(NameForms, *data[2]), strict=True))
    except (TypeError, ValueError):
        return {}


def save_forms(path: Path, forms: dict[str, NameForms]) -> None:
    """Write the cache atomically (a crash leaves the old file or none). Column-wise:
    marshal writes 13 lists far faster than 100,000 small tuples."""
    values = list(forms.values())
    columns = [[getattr(f, name) for f in values] for name in _FIELDS]
    blob = marshal.dumps((code_digest(), list(forms), columns))
    try:
        fd, tmp = tempfile.mkstemp(prefix=".names-", suffix=".tmp", dir=path.parent)
    except OSError:  # the state folder is gone: nothing to keep
        return
    try:
        with os.fdopen(fd, "wb") as fh:
            fh.write(blob)
        os.replace(tmp, path)
    except OSError:
        try:
            os.unlink(tmp)
        except OSError:
            pass


def forms_for(names: set[str]) -> dict[str, NameForms]:
    """The forms of these names (already computed by the scan: cache hits)."""
    return {n: normalize.name_forms(n) for n in names}
