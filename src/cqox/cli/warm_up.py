"""``cqox warm-up``: compile the default path's kernels once, into a cache every run reads."""

from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path
from typing import Any


def add_parser(subparsers: Any) -> argparse.ArgumentParser:
    """Add ``warm-up`` to the ``cqox`` command."""
    p: argparse.ArgumentParser = subparsers.add_parser(
        "warm-up",
        help="compile the default path's kernels into a cache (run once after installing)",
        description="Compile the kernels of the default analysis path (the RD estimator's "
        "local-polynomial fits: 7-8 s of CPU) into a Numba cache, so that no analysis "
        "compiles them: --cache-dir, else NUMBA_CACHE_DIR, else Numba's default cache "
        "(next to the installed sources when writable, else in the user's cache), where "
        "every later run looks. Nothing is compiled when the cache is current. A service "
        "copies its folder (CQOX_KERNEL_CACHE_DIR) into each worker's private cache.",
    )
    p.add_argument("--cache-dir", metavar="DIR", help="the Numba cache folder to fill")
    p.add_argument("--json", action="store_true", help="print the outcome as JSON")
    return p


def target(given: str | None) -> Path | None:
    """The folder ``cqox warm-up`` fills: ``--cache-dir``, else ``NUMBA_CACHE_DIR``.

    ``None``: Numba's default cache (the ``__pycache__`` next to the installed sources when
    writable, else Numba's folder in the user's cache), where every later run looks.
    """
    if given:
        return Path(given).expanduser().resolve()
    if os.environ.get("NUMBA_CACHE_DIR"):
        return Path(os.environ["NUMBA_CACHE_DIR"]).expanduser().resolve()
    return None


def run(args: argparse.Namespace) -> int:
    """Build the cache; exit 1 (one line) when the warm-up fails."""
    from cqox.analysis.kernel_cache import KernelCacheError, build

    folder = target(args.cache_dir)
    try:
        outcome = build(folder)
    except KernelCacheError as exc:
        print(f"cqox: error: {exc}", file=sys.stderr)
        return 1
    if args.json:
        print(json.dumps(outcome, sort_keys=True))
    elif outcome["built"]:
        print(f"compiled the kernels into {outcome['cache_path']} in {outcome['seconds']:.1f} s")
    else:
        print(f"the kernels in {outcome['cache_path']} are current")
    return 0
