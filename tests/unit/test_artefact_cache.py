"""The service's cache of rendered artefacts: bounded by bytes, least recently used first."""

from __future__ import annotations

from pathlib import Path

import pytest

from cqox.server.artefacts import ArtefactCache, stored_version
from cqox.server.problems import NotFoundError

V = (1, 1)  # a stored-analysis version


def test_hits_return_the_stored_bytes_and_misses_render_once() -> None:
    cache = ArtefactCache(1000)
    calls: list[str] = []

    def render() -> bytes:
        calls.append("x")
        return b"png-bytes"

    assert cache.get_or_render(("a", "figure:forest.png", V), render) == b"png-bytes"
    assert cache.get_or_render(("a", "figure:forest.png", V), render) == b"png-bytes"
    assert calls == ["x"]
    assert (cache.hits, cache.misses) == (1, 1)


def test_least_recently_used_entries_go_first_when_over_budget() -> None:
    cache = ArtefactCache(10)
    cache.put(("a", "1", V), b"aaaa")
    cache.put(("b", "1", V), b"bbbb")
    assert cache.get(("a", "1", V)) == b"aaaa"  # now "b" is the least recently used
    cache.put(("c", "1", V), b"cccc")
    assert cache.get(("b", "1", V)) is None
    assert cache.get(("a", "1", V)) == b"aaaa" and cache.get(("c", "1", V)) == b"cccc"
    assert cache.size_bytes == 8 <= cache.max_bytes


def test_an_artefact_larger_than_the_budget_is_served_not_kept() -> None:
    cache = ArtefactCache(4)
    assert cache.get_or_render(("a", "report", V), lambda: b"0123456789") == b"0123456789"
    assert len(cache) == 0 and cache.size_bytes == 0
    zero = ArtefactCache(0)  # CQOX_ARTEFACT_CACHE_MB=0: render every time
    zero.put(("a", "report", V), b"x")
    assert len(zero) == 0


def test_replacing_a_key_keeps_the_byte_count_right() -> None:
    cache = ArtefactCache(100)
    cache.put(("a", "1", V), b"x" * 30)
    cache.put(("a", "1", V), b"y" * 10)
    assert cache.size_bytes == 10 and cache.get(("a", "1", V)) == b"y" * 10


def test_invalidate_drops_every_artefact_of_one_analysis_only() -> None:
    cache = ArtefactCache(1000)
    for artefact in ("report", "figure:forest.png", "figure:forest.json"):
        cache.put(("a", artefact, V), b"aa")
    cache.put(("b", "report", V), b"bb")
    assert cache.invalidate("a") == 3
    assert len(cache) == 1 and cache.size_bytes == 2
    assert cache.get(("b", "report", V)) == b"bb"


def test_the_version_of_the_stored_analysis_is_part_of_the_key(tmp_path: Path) -> None:
    path = tmp_path / "a.pkl"
    path.write_bytes(b"first")
    first = stored_version(path)
    path.write_bytes(b"second, longer")
    assert stored_version(path) != first
    path.unlink()
    with pytest.raises(NotFoundError):
        stored_version(path)
