"""``cqox warm-up``: compile the estimators' kernels once, into a cache every run reads."""

from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path
from typing import Any

#: The families ``--only`` accepts (:data:`cqox.analysis.kernel_cache.WORKLOADS`; named
#: here so that building the parser imports nothing of the engine).
WORKLOAD_NAMES = ("rd", "matching", "causal_forest", "policy_tree", "synth", "network")


def add_parser(subparsers: Any) -> argparse.ArgumentParser:
    """Add ``warm-up`` to the ``cqox`` command."""
    p: argparse.ArgumentParser = subparsers.add_parser(
        "warm-up",
        help="compile the estimators' kernels into a cache (run once after installing)",
        description="Compile the estimators' Numba kernels (RD, matching with a caliper or "
        "without replacement, causal forest, policy tree, synthetic control, network "
        "exposure) into a Numba cache, so that no analysis compiles them: into "
        "--cache-dir, else NUMBA_CACHE_DIR, else the `kernels` folder "
        "of CQOx's cache (CQOX_CACHE_DIR, else ~/.cache/cqox), which `cqox serve` copies "
        "into each worker (CQOX_KERNEL_CACHE_DIR), then copied to Numba's default cache "
        "(next to the installed sources when writable, else in the user's cache), where "
        "`cqox analyze` looks. Nothing is compiled when the cache is current.",
    )
    p.add_argument("--cache-dir", metavar="DIR", help="the Numba cache folder to fill")
    p.add_argument(
        "--only",
        action="append",
        metavar="NAME",
        choices=WORKLOAD_NAMES,
        help="compile only this family's kernels (repeatable; the others then compile on "
        f"first use): {', '.join(WORKLOAD_NAMES)}",
    )
    p.add_argument("--json", action="store_true", help="print the outcome as JSON")
    return p


def target(given: str | None) -> Path | None:
    """The folder ``cqox warm-up`` fills: ``--cache-dir``, else ``NUMBA_CACHE_DIR``.

    ``None``: CQOx's cache folder, copied to Numba's default cache afterwards.
    """
    if given:
        return Path(given).expanduser().resolve()
    if os.environ.get("NUMBA_CACHE_DIR"):
        return Path(os.environ["NUMBA_CACHE_DIR"]).expanduser().resolve()
    return None


def run(args: argparse.Namespace) -> int:
    """Build the cache; exit 1 (one line) when the warm-up fails."""
    from cqox.analysis.kernel_cache import (
        KernelCacheError,
        build,
        default_dir,
        install,
        numba_default_dirs,
    )

    folder = target(args.cache_dir)
    try:
        if folder is not None:
            outcome = build(folder, only=args.only)
        else:
            # CQOx's cache folder (what `cqox serve` seeds its workers from), then Numba's
            # default cache of this environment (what `cqox analyze` and the library read)
            shared = default_dir()
            outcome = build(shared, only=args.only)
            if shared is not None:
                targets = numba_default_dirs()
                outcome["installed"] = install(shared, targets)
                outcome["numba_cache"] = sorted({str(p) for p in targets.values()})
    except (KernelCacheError, OSError) as exc:
        print(f"cqox: error: {exc}", file=sys.stderr)
        return 1
    if args.json:
        print(json.dumps(outcome, sort_keys=True))
        return 0
    done = "compiled the kernels into" if outcome["built"] else "the kernels are current in"
    print(f"{done} {outcome['cache_path']} ({outcome['seconds']:.1f} s)")
    for extra in outcome.get("numba_cache", []):
        print(f"copied to {extra}")
    return 0
