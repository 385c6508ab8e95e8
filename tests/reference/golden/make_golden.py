"""Write the peers' outputs that the reference tests compare against.

Run from the repository root, with the peers installed (``pip install -e '.[test]'``)::

    python -m tests.reference.golden.make_golden [PYTEST_ARGS ...]

It runs the tests that compare with a peer (every test module importing this package,
unless paths are given) with recording on, and merges every live peer output into
``golden/<peer>.json`` (cases not run keep their stored values). Check the result as a
machine without the peers would run it with ``CQOX_PEERS=stored python -m pytest``.
"""

from __future__ import annotations

import json
import sys

import pytest

from tests.reference import golden


def users_of_golden() -> list[str]:
    """The test modules that import this package (relative to the repository root)."""
    root = golden.GOLDEN_DIR.parents[2]
    return sorted(
        str(path.relative_to(root))
        for path in (root / "tests").rglob("test_*.py")
        if "tests.reference.golden import" in path.read_text()
    )


def main(argv: list[str]) -> int:
    """Record the peers' outputs and write the golden files; returns pytest's status."""
    if golden.FORCE_STORED:
        print("make_golden: unset CQOX_PEERS=stored to record live outputs", file=sys.stderr)
        return 2
    golden.RECORDING = True
    # by default every test module that asks a Peer (and the bounded forms of slow
    # studies, which CI runs)
    args = argv or ["--ci-bounded", *users_of_golden()]
    status = int(pytest.main(["-q", "-p", "no:randomly", "-p", "no:cacheprovider", *args]))
    for name, cases in sorted(golden.RECORDED.items()):
        path = golden.GOLDEN_DIR / f"{name}.json"
        stored = json.loads(path.read_text()) if path.exists() else {}
        stored.update(cases)
        path.write_text(json.dumps(stored, indent=1, sort_keys=True) + "\n")
        print(f"make_golden: {path.name}: {len(cases)} case(s) recorded, {len(stored)} stored")
    return status


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
