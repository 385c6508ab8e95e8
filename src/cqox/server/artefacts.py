"""Rendered artefacts of finished analyses (report HTML, figure PNG and JSON), cached.

Rendering a report takes one to two seconds and a PNG figure a few tenths (Matplotlib
and Plotly, behind one render lock); the stored analysis never changes once written,
so each artefact is rendered once and then served from memory.

The cache is a least-recently-used map bounded by the bytes it holds
(``CQOX_ARTEFACT_CACHE_MB``).  A key is the analysis id, the artefact (``report``,
``figure:<name>.png``, …) and the *version* of the stored analysis — the modification
time and size of its file — so an analysis written again under the same id (or by
another process sharing the data directory) is rendered again, never served stale.
Deleting an analysis drops its entries (:meth:`ArtefactCache.invalidate`); other API
processes still holding them cannot serve them, because every route checks that the
analysis exists and belongs to the caller before it reads the cache.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Callable
from pathlib import Path

from cqox.server.problems import NotFoundError

#: ``(analysis id, artefact, (mtime_ns, size) of the stored analysis)``.
Key = tuple[str, str, tuple[int, int]]


def stored_version(path: Path) -> tuple[int, int]:
    """``(mtime_ns, size)`` of a stored analysis; 404 when it is gone."""
    try:
        st = path.stat()
    except FileNotFoundError:
        raise NotFoundError("the analysis's figure data is no longer stored") from None
    return st.st_mtime_ns, st.st_size


class ArtefactCache:
    """A thread-safe LRU of rendered artefacts, at most ``max_bytes`` in all.

    An artefact larger than the whole budget is rendered and returned but not kept.
    Two requests for the same missing artefact may both render it (rendering holds no
    cache lock, so a slow render never blocks hits on other keys); the second result
    replaces the first, which is the same bytes.
    """

    def __init__(self, max_bytes: int) -> None:
        self.max_bytes = max_bytes
        self._items: OrderedDict[Key, bytes] = OrderedDict()
        self._bytes = 0
        self._lock = threading.Lock()
        self.hits = 0
        self.misses = 0

    def __len__(self) -> int:
        return len(self._items)

    @property
    def size_bytes(self) -> int:
        """Bytes held now."""
        return self._bytes

    def get(self, key: Key) -> bytes | None:
        """The cached bytes of ``key`` (now the most recently used), or ``None``."""
        with self._lock:
            data = self._items.get(key)
            if data is None:
                self.misses += 1
                return None
            self._items.move_to_end(key)
            self.hits += 1
            return data

    def put(self, key: Key, data: bytes) -> None:
        """Keep ``data`` under ``key``, evicting the least recently used beyond the budget."""
        if len(data) > self.max_bytes:
            return
        with self._lock:
            old = self._items.pop(key, None)
            if old is not None:
                self._bytes -= len(old)
            self._items[key] = data
            self._bytes += len(data)
            while self._bytes > self.max_bytes:
                _, evicted = self._items.popitem(last=False)
                self._bytes -= len(evicted)

    def get_or_render(self, key: Key, render: Callable[[], bytes]) -> bytes:
        """The cached artefact, rendering (and keeping) it on a miss."""
        data = self.get(key)
        if data is None:
            data = render()
            self.put(key, data)
        return data

    def invalidate(self, analysis_id: str) -> int:
        """Drop every artefact of ``analysis_id``; returns how many were dropped."""
        with self._lock:
            keys = [k for k in self._items if k[0] == analysis_id]
            for k in keys:
                self._bytes -= len(self._items.pop(k))
        return len(keys)
