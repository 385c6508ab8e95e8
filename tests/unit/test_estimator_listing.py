"""``cqox estimators`` lists the registry from a cache keyed by the package's sources.

The cached listing must equal the live one, be rebuilt when the sources change (a new
key), survive a damaged or unwritable cache, and, once written, let a fresh process list
the estimators without importing NumPy, pandas or SciPy.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from cqox import _cachedir
from cqox.estimators import listing


@pytest.fixture
def cache(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv(_cachedir.ENV, str(tmp_path / "cache"))
    return tmp_path / "cache"


def test_cached_listing_equals_the_live_registry(cache: Path) -> None:
    first = listing.listing()  # a miss: computed and written
    path = listing.cache_path()
    assert path is not None and path.is_file()
    assert json.loads(path.read_text(encoding="utf-8")) == first
    assert listing.listing() == first == listing.live_listing()
    assert {"ipw", "psm", "dml_irm", "rd", "synth"} <= {e["name"] for e in first}


def test_a_cached_listing_is_what_is_served(cache: Path) -> None:
    # proves the hit path reads the file: a marker entry written under the current key
    path = listing.cache_path()
    assert path is not None
    path.write_text(json.dumps([{"name": "marker"}]), encoding="utf-8")
    assert listing.listing() == [{"name": "marker"}]


def test_changed_sources_give_a_new_key(tmp_path: Path) -> None:
    pkg = tmp_path / "pkg"
    (pkg / "sub").mkdir(parents=True)
    (pkg / "a.py").write_text("x = 1\n", encoding="utf-8")
    (pkg / "sub" / "b.py").write_text("y = 2\n", encoding="utf-8")
    key = listing.source_key(pkg)
    assert listing.source_key(pkg) == key
    (pkg / "sub" / "b.py").write_text("y = 3\n", encoding="utf-8")
    changed = listing.source_key(pkg)
    assert changed != key
    (pkg / "c.py").write_text("", encoding="utf-8")
    assert listing.source_key(pkg) not in (key, changed)


def test_a_damaged_cache_file_is_rebuilt(cache: Path) -> None:
    path = listing.cache_path()
    assert path is not None
    path.write_text("{not json", encoding="utf-8")
    entries = listing.listing()
    assert entries == listing.live_listing()
    assert json.loads(path.read_text(encoding="utf-8")) == entries


def test_unwritable_or_disabled_cache_still_lists(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    blocker = tmp_path / "a-file"
    blocker.write_text("", encoding="utf-8")
    monkeypatch.setenv(_cachedir.ENV, str(blocker / "cache"))  # below a file: cannot exist
    assert listing.cache_path() is None
    assert listing.listing() == listing.live_listing()
    monkeypatch.setenv(_cachedir.ENV, "")
    assert _cachedir.cache_root() is None
    assert listing.listing() == listing.live_listing()


def test_old_listings_are_pruned(cache: Path) -> None:
    folder = cache / listing.SUBDIR
    folder.mkdir(parents=True)
    for i in range(listing.KEEP + 3):
        old = folder / f"estimators-old{i:02d}.json"
        old.write_text("[]", encoding="utf-8")
        os.utime(old, (1_000_000 + i, 1_000_000 + i))
    listing.listing()  # a miss under the real key: writes, then prunes
    left = sorted(p.name for p in folder.glob("estimators-*.json"))
    assert len(left) == listing.KEEP
    assert "estimators-old00.json" not in left


_PROBE = """
import contextlib, io, json, sys
from cqox.cli.main import main
with contextlib.redirect_stdout(io.StringIO()) as out:
    assert main(['estimators', '--json']) == 0
names = [e['name'] for e in json.loads(out.getvalue())]
heavy = sorted(m for m in sys.modules if m.split('.')[0] in ('numpy', 'pandas', 'scipy'))
print(json.dumps({'names': names, 'heavy': heavy}))
"""


def test_a_cached_listing_needs_no_numpy_pandas_or_scipy(tmp_path: Path) -> None:
    env = {
        **os.environ,
        "PYTHONPATH": os.pathsep.join(sys.path),
        _cachedir.ENV: str(tmp_path / "cache"),
    }
    runs = []
    for _ in range(2):  # the first fills the cache, the second reads it
        proc = subprocess.run(
            [sys.executable, "-c", _PROBE],
            capture_output=True,
            text=True,
            env=env,
            check=False,
            timeout=120,
        )
        assert proc.returncode == 0, proc.stderr[-2000:]
        runs.append(json.loads(proc.stdout.strip().splitlines()[-1]))
    assert runs[0]["heavy"], "the first run computes the listing from the registry"
    assert runs[1]["heavy"] == [], f"a cached listing imported {runs[1]['heavy']}"
    assert runs[1]["names"] == runs[0]["names"]
