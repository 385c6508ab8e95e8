"""Where CQOx keeps files it can rebuild: the estimator listing and compiled kernels.

``CQOX_CACHE_DIR`` when set, else ``$XDG_CACHE_HOME/cqox``, else ``~/.cache/cqox``.  A
directory that cannot be created or written is not used: every cache here is an
optimisation, so an unwritable location (a read-only container without a home, say)
costs time, never correctness.  Set ``CQOX_CACHE_DIR`` to an empty string to disable
the caches.
"""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

#: Environment variable naming the cache directory ("" disables caching).
ENV = "CQOX_CACHE_DIR"


def cache_root() -> Path | None:
    """The configured cache directory (not created), or ``None`` when disabled."""
    given = os.environ.get(ENV)
    if given is not None:
        return Path(given).expanduser() if given.strip() else None
    xdg = os.environ.get("XDG_CACHE_HOME", "").strip()
    base = Path(xdg) if xdg else Path.home() / ".cache"
    return base / "cqox"


def writable_dir(path: Path) -> bool:
    """Create ``path`` if needed and check that a file can be written in it."""
    try:
        path.mkdir(parents=True, exist_ok=True)
        with tempfile.NamedTemporaryFile(dir=path, prefix=".probe-"):
            pass
    except OSError:
        return False
    return True


def cache_dir(sub: str) -> Path | None:
    """The writable subdirectory ``sub`` of the cache root, or ``None``."""
    try:
        root = cache_root()
    except RuntimeError:  # no home directory to expand
        return None
    if root is None:
        return None
    path = root / sub
    return path if writable_dir(path) else None


def write_atomic(path: Path, text: str) -> bool:
    """Write ``text`` to ``path`` through a temporary file and a rename.

    Concurrent writers (two ``cqox`` processes filling the same cache) each rename a
    complete file, so a reader never sees a partial one.  Returns whether it worked.
    """
    try:
        fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.")
    except OSError:
        return False
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            fh.write(text)
        os.replace(tmp, path)
    except OSError:
        Path(tmp).unlink(missing_ok=True)
        return False
    return True
