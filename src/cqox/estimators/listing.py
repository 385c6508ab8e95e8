"""The registry's listing, served from a cache so that listing imports no estimator.

``cqox estimators`` needs each estimator's name, family, designs, estimands, roles and
parameters.  Computing them imports every estimator module, and with them NumPy,
pandas and SciPy (about 0.8 s of CPU in a fresh process, where the listing itself is a
few milliseconds).  :func:`listing` keeps the JSON of
:func:`cqox.estimators.registry.list_estimators` in the cache directory
(:mod:`cqox._cachedir`) under a key that hashes the CQOx version, the Python version and
the content of every source file of the package, so any change to the code that
describes an estimator (or to anything else) is a new key: a stale listing is never
served.  On a miss the registry is loaded and the listing written; an unwritable cache
only costs the import time.

This module imports nothing beyond the standard library and :mod:`cqox._cachedir`.
"""

from __future__ import annotations

import hashlib
import json
import sys
from pathlib import Path
from typing import Any

from cqox._cachedir import cache_dir, write_atomic
from cqox._version import __version__

#: Subdirectory of the cache directory holding the listings.
SUBDIR = "registry"
#: Listings kept (one per source version; the oldest go first): a few installations
#: sharing one cache directory do not evict each other, edits do not pile up files.
KEEP = 8
#: The package whose sources key the cache (``src/cqox``, or site-packages/cqox).
PACKAGE_ROOT = Path(__file__).resolve().parents[1]


def source_key(root: Path = PACKAGE_ROOT) -> str:
    """SHA-256 (hex, first 32 digits) of the version and every ``.py`` file under ``root``.

    Hashing the content, not modification times, keeps the key right across checkouts,
    copies and installs that preserve or reset times.  About 230 files: ~10 ms.
    """
    h = hashlib.sha256(f"{__version__}|{sys.version}".encode())
    for path in sorted(root.rglob("*.py")):
        h.update(str(path.relative_to(root)).encode())
        h.update(b"\0")
        h.update(path.read_bytes())
        h.update(b"\0")
    return h.hexdigest()[:32]


def live_listing() -> list[dict[str, Any]]:
    """The listing computed from the registry (imports every estimator module)."""
    from cqox.core.jsonable import to_jsonable
    from cqox.estimators.registry import list_estimators

    entries: list[dict[str, Any]] = to_jsonable(list_estimators())
    return entries


def cache_path(key: str | None = None) -> Path | None:
    """The cache file of the current sources (``None`` when caching is unavailable)."""
    folder = cache_dir(SUBDIR)
    if folder is None:
        return None
    return folder / f"estimators-{key or source_key()}.json"


def listing() -> list[dict[str, Any]]:
    """The JSON listing of every registered estimator (cached; see the module docstring).

    Equal to ``to_jsonable(list_estimators())`` (``tests/unit/test_estimator_listing.py``).
    """
    path = cache_path()
    if path is not None and path.is_file():
        try:
            cached = json.loads(path.read_text(encoding="utf-8"))
        except (OSError, ValueError):
            cached = None  # a damaged file is rebuilt below
        if isinstance(cached, list):
            return cached
    entries = live_listing()
    if path is not None and write_atomic(path, json.dumps(entries)):
        _prune(path.parent)
    return entries


def _prune(folder: Path) -> None:
    """Remove all but the :data:`KEEP` most recently written listings."""
    try:
        files = sorted(folder.glob("estimators-*.json"), key=lambda p: p.stat().st_mtime)
        for old in files[:-KEEP]:
            old.unlink(missing_ok=True)
    except OSError:
        pass  # another process pruned first
