"""Write the peers' outputs that the reference tests compare against.

Run from the repository root, with the peers installed (``pip install -e '.[test]'``)::

    python -m tests.reference.golden.make_golden [PYTEST_ARGS ...]

It runs the reference tests (``tests/reference`` unless other paths are given) with
recording on, and merges every live peer output into ``golden/<peer>.json`` (cases not
run keep their stored values). Check the result without the peers with
``CQOX_PEERS=stored python -m pytest tests/reference``.
"""

from __future__ import annotations

import json
import sys

import pytest

from tests.reference import golden


def main(argv: list[str]) -> int:
    """Record the peers' outputs and write the golden files; returns pytest's status."""
    if golden.FORCE_STORED:
        print("make_golden: unset CQOX_PEERS=stored to record live outputs", file=sys.stderr)
        return 2
    golden.RECORDING = True
    # the bounded forms of slow studies too (CI runs them); the full slow studies are not
    # reference tests
    args = argv or ["--ci-bounded", "tests/reference"]
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
