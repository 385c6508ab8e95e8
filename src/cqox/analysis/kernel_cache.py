"""Compiled kernels cached ahead of use: warm-up, an up-to-date check and worker seeding.

Numba compiles a ``cache=True`` kernel on its first call in a process whose Numba cache
lacks it, then writes the machine code there (``NUMBA_CACHE_DIR``, else the
``__pycache__`` folder next to the source when writable, else Numba's folder in the
user's cache).  Compiling costs seconds of CPU per family on a 2-core machine (the RD
estimator's local-polynomial kernels, :mod:`cqox.estimators.rd._lp_kernel`, 7–8 s; the
causal forest's about 5 s; the synthetic-control QP about 4 s), against a fraction
of a second to load from the cache, so no analysis should compile in front of a user:

- :func:`warm_up` compiles (or loads) every kernel module of :data:`KERNEL_MODULES` by
  running small real analyses (:data:`WORKLOADS`: RD with the default gates, matching
  with a caliper and without replacement, a causal forest, policy trees, a synthetic
  control, network exposure), so the cached signatures are exactly those real analyses
  use;
- :func:`build` runs the warm-up in a fresh interpreter whose ``NUMBA_CACHE_DIR`` is a
  given folder, under an exclusive lock (concurrent builders wait, then find it done),
  and writes :data:`STAMP_FILE` last: the sources' hashes, the Numba and Python
  versions, the CPU and the workloads run (all, or those asked for: ``cqox warm-up
  --only``); :func:`is_current` compares it with this installation, so a
  changed kernel source, an upgrade or another CPU rebuilds it.  Numba checks the
  same on every load: its index holds a hash of the kernel's source file and its key
  the CPU, and each kernel module holds every compiled function its kernels call
  (:func:`cross_module_calls`), because Numba's check covers only the caller's file;
- :func:`seed` copies a current cache into a writable Numba cache folder.  Numba only
  uses a folder it can write, so a read-only pre-built cache (a container image's) is
  copied; the service copies its cache into each worker's private folder
  (:mod:`cqox.server.sandbox`), and :func:`use_installed` into a command-line run's
  (``CQOX_KERNEL_CACHE_DIR``: the container image's ``cqox analyze``).

``cqox warm-up`` (:mod:`cqox.cli.warm_up`) runs :func:`build` after an installation
(``make install``/``make install-run`` and the container image run it): into a given
folder, or into CQOx's cache folder (:func:`default_dir`, which a service seeds its
workers from), then copied (:func:`install`) to where Numba looks in a plain process
(:func:`numba_default_dirs`), so that the command line and the library find them too.

Numba writes each index and data file to a temporary name and renames it into place
(``os.replace``), so a reader never sees a partial file; but an index update is a
read-modify-write, so two processes adding *different* signatures of one function to
the same folder at once can pair an index entry with the other's data file.  Here every
builder writes the same signatures (the warm-up's), one at a time (the lock), and each
worker writes only its private copy.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import platform
import shutil
import subprocess
import sys
import time
from collections.abc import Iterator, MutableMapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

from cqox._cachedir import write_atomic

if TYPE_CHECKING:  # only for the warm-up's return annotation: no import at start-up
    from cqox.core.estimate import Estimate

#: Every module of compiled (Numba) kernels, and its file (relative to the ``cqox``
#: package: its content is hashed without importing it).
KERNEL_MODULES = {
    "cqox.estimators.rd._lp_kernel": "estimators/rd/_lp_kernel.py",
    "cqox.estimators.backdoor._matching_kernels": "estimators/backdoor/_matching_kernels.py",
    "cqox.estimators.cate._forest_kernels": "estimators/cate/_forest_kernels.py",
    "cqox.estimators.cate._policy_kernels": "estimators/cate/_policy_kernels.py",
    "cqox.estimators.network._bit_kernels": "estimators/network/_bit_kernels.py",
    "cqox.estimators.synth._qp": "estimators/synth/_qp.py",
}
#: Written last by :func:`build`: what the cache was built for (:func:`stamp`).
STAMP_FILE = "cqox-kernels.json"
#: Lock file of :func:`build` (exclusive) and :func:`seed` (shared).
LOCK_FILE = ".cqox-kernels.lock"
#: Subfolder of CQOx's cache directory (:mod:`cqox._cachedir`) used by default.
SUBDIR = "kernels"
#: Longest a build may take (seconds): the full warm-up is about 22 s of CPU on 2 cores,
#: and a loaded machine stretches its wall time 5-10 times.
BUILD_TIMEOUT_S = 1800.0
#: Longest :func:`seed` waits for a build of its source to finish (seconds); then it
#: copies nothing and the kernels compile on first use.
SEED_WAIT_S = 5.0
#: Numba's settings that change the machine code, hence the cache key.
NUMBA_CODEGEN_VARIABLES = ("NUMBA_CPU_NAME", "NUMBA_CPU_FEATURES", "NUMBA_OPT")
#: Suffixes of Numba's cache files (index, data).
CACHE_SUFFIXES = (".nbi", ".nbc")


class KernelCacheError(RuntimeError):
    """The warm-up process failed or timed out (its message says how)."""


def _package_root() -> Path:
    import cqox

    return Path(cqox.__file__).resolve().parent


def _host_cpu() -> str:
    """The CPU as Numba targets it: ``NUMBA_CPU_NAME`` when set, else the host's model/flags."""
    given = {k: os.environ.get(k, "") for k in NUMBA_CODEGEN_VARIABLES}
    if given["NUMBA_CPU_NAME"]:
        return json.dumps(given, sort_keys=True)
    lines: list[str] = []
    with (
        contextlib.suppress(OSError),
        open("/proc/cpuinfo", encoding="utf-8", errors="replace") as fh,
    ):
        for line in fh:
            key = line.split(":", 1)[0].strip()
            if key in ("model name", "flags", "Features", "CPU part") and line not in lines:
                lines.append(line)
            if not line.strip() and lines:
                break  # the first processor's block is enough
    text = "".join(lines) or platform.processor()
    return json.dumps({**given, "host": hashlib.sha256(text.encode()).hexdigest()}, sort_keys=True)


def stamp(workloads: list[str] | None = None) -> dict[str, Any]:
    """What a cache of the kernels depends on, without importing Numba or the kernels.

    ``workloads``: the :data:`WORKLOADS` it was built by (default: all of them).
    """
    from importlib.metadata import PackageNotFoundError, version

    from cqox._version import __version__

    root = _package_root()
    try:
        numba_version = version("numba")
    except PackageNotFoundError:
        numba_version = "absent"
    return {
        "cqox": __version__,
        "numba": numba_version,
        "python": sys.version.split()[0] + getattr(sys, "abiflags", ""),
        "machine": platform.machine(),
        "cpu": _host_cpu(),
        "sources": {
            name: hashlib.sha256((root / rel).read_bytes()).hexdigest()
            for name, rel in KERNEL_MODULES.items()
        },
        "workloads": sorted(WORKLOADS if workloads is None else set(workloads)),
    }


def read_stamp(cache_dir: Path) -> dict[str, Any] | None:
    """The stamp :func:`build` wrote into ``cache_dir`` (``None``: none, or unreadable)."""
    try:
        saved = json.loads((cache_dir / STAMP_FILE).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    return saved if isinstance(saved, dict) else None


def is_current(cache_dir: Path, workloads: list[str] | None = None) -> bool:
    """Whether ``cache_dir`` holds a complete build for this installation and CPU.

    Complete: by the ``workloads`` given (at least; by default any that were asked of
    :func:`build`), for these kernel sources, CQOx, Numba, Python and CPU.
    """
    saved = read_stamp(cache_dir)
    if saved is None:
        return False
    done = saved.get("workloads")
    if not isinstance(done, list) or not set(done) <= set(WORKLOADS):
        return False
    if workloads is not None and not set(workloads) <= set(done):
        return False
    return bool(saved == stamp(done))


def _warm_rd() -> None:
    """A sharp and a fuzzy RD analysis with the default gates; the pseudo-inverse fallback."""
    import numpy as np

    import cqox
    from cqox.estimators.rd import _lp_kernel

    sharp, _ = cqox.simulate.rd_sharp(n=1000, seed=0)
    cqox.analyze(sharp, outcome="y", running="x", cutoff=0.0, estimators=["rd"], seed=0)
    fuzzy, _ = cqox.simulate.rd_fuzzy(n=1000, seed=0)
    cqox.analyze(
        fuzzy, outcome="y", treatment="d", running="x", cutoff=0.0, estimators=["rd"], seed=0
    )
    _lp_kernel.pinv_sym(np.ones((2, 2)))


def _warm_matching() -> None:
    """Propensity-score matching with a caliper, and without replacement (greedy).

    Matching with replacement and no caliper (psm's default) runs in NumPy.
    """
    import cqox

    df, _ = cqox.simulate.confounded_binary(n=400, seed=0)
    roles: dict[str, Any] = {"outcome": "y", "treatment": "t", "covariates": ["x1", "x2", "x3"]}
    cqox.estimate("psm", df, **roles, caliper=0.2, seed=0)
    cqox.estimate("psm", df, **roles, replace=False, estimand="ATT", seed=0)


def _warm_causal_forest() -> None:
    """A causal forest (growing, out-of-bag and new-row predictions) with linear nuisances."""
    import cqox

    df, _ = cqox.simulate.confounded_binary(n=300, seed=0)
    cqox.estimate(
        "causal_forest",
        df,
        outcome="y",
        treatment="t",
        covariates=["x1", "x2", "x3"],
        learner="linear",
        n_trees=8,
        n_folds=2,
        seed=0,
    )


def _warm_policy_tree() -> None:
    """Policy trees of depth 2 (the default) and 3 (its greedy third level: depth-1 search)."""
    import cqox

    df, _ = cqox.simulate.confounded_binary(n=200, seed=0)
    roles: dict[str, Any] = {"outcome": "y", "treatment": "t", "covariates": ["x1", "x2", "x3"]}
    for depth in (2, 3):
        cqox.estimate("policy_tree", df, **roles, learner="linear", depth=depth, seed=0)


def _warm_synth() -> Estimate:
    """Synthetic control with nested predictor weights and conformal inference (defaults).

    Returns the estimate, which tests compare across the QP's two solver routes.
    """
    import cqox
    from cqox.simulate.synth import synth_factor_model

    df, _ = synth_factor_model(n_donors=5, n_pre=8, n_post=3, seed=0)
    return cqox.estimate(
        "synth",
        df,
        outcome="y",
        roles={"unit": "unit", "time": "time", "treatment": "treated"},
        conformal_n_perm=99,
        seed=0,
    )


def _warm_network() -> None:
    """Network exposure under complete and cluster randomisation.

    (``network_regression`` has no compiled kernel.)
    """
    import numpy as np

    import cqox
    from cqox.simulate.network import network_interference

    df, edges, _ = network_interference(n=60, mean_degree=3, seed=0)
    roles: dict[str, Any] = {
        "outcome": "y",
        "treatment": "t",
        "roles": {"unit": "id"},
        "network": edges,
    }
    cqox.estimate("network_exposure", df, **roles, n_draws=200, n_perm=99, seed=0)
    clustered = df.assign(cl=np.arange(len(df)) // 3)
    clustered["t"] = (clustered["cl"] % 2).astype(int)
    cqox.estimate(
        "network_exposure",
        clustered,
        outcome="y",
        treatment="t",
        roles={"unit": "id", "cluster": "cl"},
        network=edges,
        design="cluster",
        n_draws=200,
        n_perm=99,
        seed=0,
    )


#: What :func:`warm_up` runs, by name: small real analyses of every estimator with a
#: compiled kernel, so the kernels are compiled for the argument types real analyses use.
WORKLOADS = {
    "rd": _warm_rd,
    "matching": _warm_matching,
    "causal_forest": _warm_causal_forest,
    "policy_tree": _warm_policy_tree,
    "synth": _warm_synth,
    "network": _warm_network,
}


def warm_up(
    only: list[str] | None = None, timings: dict[str, dict[str, float]] | None = None
) -> dict[str, dict[str, int]]:
    """Compile or load every compiled kernel in this process; :func:`compile_stats`.

    Runs what a user runs (:data:`WORKLOADS`, or the named ones): small RD, matching,
    causal-forest, policy-tree, synthetic-control and network analyses (rows drawn from
    :mod:`cqox.simulate`) with their default options, so the kernels are compiled for
    the argument types of a real analysis.  ``timings``, when given, receives each
    workload's wall and CPU seconds.
    """
    import warnings

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        for name in WORKLOADS if only is None else only:
            wall, cpu = time.perf_counter(), time.process_time()
            WORKLOADS[name]()
            if timings is not None:
                timings[name] = {
                    "wall_s": time.perf_counter() - wall,
                    "cpu_s": time.process_time() - cpu,
                }
    return compile_stats()


def compile_stats() -> dict[str, dict[str, int]]:
    """Per kernel of :data:`KERNEL_MODULES` (those this process called): cache hits and misses.

    From Numba's dispatcher statistics: a *miss* is a compilation (nothing usable in
    the cache), a *hit* a load from it; a kernel compiled into a caller loaded from the
    cache is neither.
    """
    import importlib

    out: dict[str, dict[str, int]] = {}
    for name in KERNEL_MODULES:
        module = importlib.import_module(name)
        for attr, obj in sorted(vars(module).items()):
            stats = getattr(obj, "stats", None)
            if stats is None or getattr(obj, "__module__", None) != name:
                continue
            if getattr(obj, "__name__", attr) != attr:  # an alias (synth._qp._solve)
                continue
            hits, misses = sum(stats.cache_hits.values()), sum(stats.cache_misses.values())
            if hits or misses:
                out[f"{name}.{attr}"] = {"hits": int(hits), "misses": int(misses)}
    return out


def cross_module_calls() -> list[str]:
    """Compiled functions called by a kernel module's compiled code but defined elsewhere.

    Numba invalidates a cached kernel when its own source file changes, not when a
    compiled callee in another file does; the list must stay empty.
    """
    import importlib

    from numba.extending import is_jitted  # public: a Numba dispatcher

    found = []
    for name in KERNEL_MODULES:
        module = importlib.import_module(name)
        for attr, obj in vars(module).items():
            if not is_jitted(obj) or obj.__module__ != name:
                continue
            for ref in obj.py_func.__code__.co_names:
                callee: Any = getattr(module, ref, None)
                if is_jitted(callee) and callee.__module__ != name:
                    found.append(f"{name}.{attr} -> {callee.__module__}.{ref}")
    return found


@contextlib.contextmanager
def _locked(folder: Path, exclusive: bool, timeout: float) -> Iterator[None]:
    """Hold ``folder``'s lock file (``flock``) for the block; no lock where none can be taken.

    A read-only folder (a container image's pre-built cache) cannot be written by
    anyone, so reading it needs no lock.
    """
    try:
        import fcntl
    except ImportError:  # pragma: no cover - not POSIX
        yield
        return
    path = folder / LOCK_FILE
    try:
        fd = os.open(path, (os.O_RDWR | os.O_CREAT) if exclusive else os.O_RDONLY, 0o644)
    except OSError:
        if exclusive:
            raise
        yield
        return
    try:
        mode = (fcntl.LOCK_EX if exclusive else fcntl.LOCK_SH) | fcntl.LOCK_NB
        deadline = time.monotonic() + timeout
        while True:
            try:
                fcntl.flock(fd, mode)
                break
            except BlockingIOError:
                if time.monotonic() > deadline:
                    raise KernelCacheError(
                        f"kernel cache {folder}: still locked by another build after "
                        f"{timeout:.0f} s"
                    ) from None
                time.sleep(0.1)
        yield
    finally:
        os.close(fd)  # releases the lock


def build(
    cache_dir: Path | None,
    env: dict[str, str] | None = None,
    timeout: float = BUILD_TIMEOUT_S,
    only: list[str] | None = None,
) -> dict[str, Any]:
    """Compile the kernels into the Numba cache folder ``cache_dir``.

    The warm-up (:data:`WORKLOADS`, or those named in ``only``) runs in a fresh
    interpreter (``python -m cqox.analysis.kernel_cache``) with ``env`` (default: this
    process's environment) and ``NUMBA_CACHE_DIR=cache_dir``; nothing is compiled when
    the folder is already current for them (:func:`is_current`).  With
    ``cache_dir=None`` the child keeps the environment's Numba cache (``NUMBA_CACHE_DIR``
    if set, else the ``__pycache__`` next to the sources or Numba's user cache: where
    every later run looks), and Numba's own checks decide what to compile.  Returns
    ``{"built": bool, "seconds": float, "kernels": compile_stats, "cache_path": str}``;
    raises :class:`KernelCacheError` when the warm-up fails or exceeds ``timeout`` s.
    """
    start = time.monotonic()
    unknown = sorted(set(only or ()) - set(WORKLOADS))
    if unknown:
        raise KernelCacheError(
            f"unknown warm-up workload(s) {', '.join(unknown)}; known: {', '.join(WORKLOADS)}"
        )
    names = list(WORKLOADS) if not only else sorted(set(only))
    child = dict(os.environ if env is None else env)
    child["PYTHONPATH"] = os.pathsep.join(
        [str(_package_root().parent), *filter(None, child.get("PYTHONPATH", "").split(os.pathsep))]
    )
    if cache_dir is None:
        return {
            **_run_warm_up(child, "Numba's cache", timeout, names),
            "seconds": time.monotonic() - start,
        }
    cache_dir.mkdir(parents=True, exist_ok=True)
    with _locked(cache_dir, exclusive=True, timeout=timeout):
        if is_current(cache_dir, names):
            return {
                "built": False,
                "seconds": time.monotonic() - start,
                "kernels": {},
                "cache_path": str(cache_dir),
            }
        (cache_dir / STAMP_FILE).unlink(missing_ok=True)
        child["NUMBA_CACHE_DIR"] = str(cache_dir)
        outcome = _run_warm_up(child, str(cache_dir), timeout, names)
        if not write_atomic(cache_dir / STAMP_FILE, json.dumps(stamp(names), sort_keys=True)):
            raise KernelCacheError(f"kernel cache {cache_dir}: cannot write {STAMP_FILE}")
    return {**outcome, "seconds": time.monotonic() - start, "cache_path": str(cache_dir)}


def _run_warm_up(
    env: dict[str, str], where: str, timeout: float, names: list[str]
) -> dict[str, Any]:
    """Run :func:`warm_up` of ``names`` in a fresh interpreter: what it compiled, where."""
    only = [arg for name in names for arg in ("--only", name)]
    try:
        proc = subprocess.run(
            [sys.executable, "-m", "cqox.analysis.kernel_cache", "--in-process", *only],
            env=env,
            capture_output=True,
            text=True,
            timeout=timeout,
            check=False,
        )
    except subprocess.TimeoutExpired:
        raise KernelCacheError(
            f"kernel warm-up into {where} took longer than {timeout:.0f} s"
        ) from None
    if proc.returncode != 0:
        tail = (proc.stderr or proc.stdout).strip().splitlines()[-1:] or ["no output"]
        raise KernelCacheError(
            f"kernel warm-up into {where} failed (exit {proc.returncode}): {tail[0]}"
        )
    report = json.loads(proc.stdout.strip().splitlines()[-1])
    kernels = report["kernels"]
    return {
        "built": any(k["misses"] for k in kernels.values()),
        "kernels": kernels,
        "cache_path": report["cache_path"],
        "workloads": report["timings"],
    }


def seed(source: Path, dest: Path) -> int:
    """Copy the current pre-built cache ``source`` into the Numba cache folder ``dest``.

    Only Numba's cache files and the stamp are copied, each through a temporary name
    and a rename; symbolic links are not followed.  Returns the number of files copied
    (0 when ``source`` is missing, not current or still being built for longer than
    :data:`SEED_WAIT_S`: the kernels then compile on first use).
    """
    if not source.is_dir():
        return 0
    copied = 0
    with contextlib.ExitStack() as stack:
        try:
            stack.enter_context(_locked(source, exclusive=False, timeout=SEED_WAIT_S))
        except KernelCacheError:  # a build of it is still running
            return 0
        if not is_current(source):
            return 0
        for root, dirs, files in os.walk(source, followlinks=False):
            rel = Path(root).relative_to(source)
            dirs[:] = [d for d in dirs if not os.path.islink(os.path.join(root, d))]
            for name in files:
                src = Path(root) / name
                if not name.endswith(CACHE_SUFFIXES) or src.is_symlink():
                    continue
                _copy_atomic(src, dest / rel / name)
                copied += 1
        # the stamp last: a copy cut short is not taken for a complete one
        if not (source / STAMP_FILE).is_symlink():
            _copy_atomic(source / STAMP_FILE, dest / STAMP_FILE)
            copied += 1
    return copied


#: The pre-built cache a process seeds its private Numba cache from (a container
#: image's, written by ``cqox warm-up --cache-dir``); the service's workers use it too.
SOURCE_VARIABLE = "CQOX_KERNEL_CACHE_DIR"


def private_folder(path: Path) -> bool:
    """Whether ``path`` is a folder only this user can write (made so when missing).

    A real directory (not a symbolic link) owned by this user, writable by neither its
    group nor others: nobody else can plant machine code that this process would load.
    A missing folder is created with mode 0700 (its parents as need be).
    """
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        with contextlib.suppress(FileExistsError):
            path.mkdir(mode=0o700)
        info = path.lstat()
    except OSError:
        return False
    import stat

    return (
        stat.S_ISDIR(info.st_mode)
        and info.st_uid == os.geteuid()
        and not info.st_mode & (stat.S_IWGRP | stat.S_IWOTH)
    )


def use_installed(environ: MutableMapping[str, str] | None = None) -> Path | None:
    """Seed this process's Numba cache from the pre-built one (:data:`SOURCE_VARIABLE`).

    What the service does for each worker, for a command-line run (``cqox analyze`` in
    the container image): the installed, read-only cache is copied (:func:`seed`) into
    a Numba cache folder this user alone can write (:func:`private_folder`):
    ``NUMBA_CACHE_DIR`` when it is one, else a new temporary folder removed at exit,
    which ``NUMBA_CACHE_DIR`` then names (call this before the kernels are imported).
    Nothing is copied when that folder already holds a current copy.  Returns the
    folder Numba will use, or ``None`` (no pre-built cache configured, or not current:
    the kernels then compile on first use, as without this).
    """
    env = os.environ if environ is None else environ
    given = env.get(SOURCE_VARIABLE, "")
    if not given:
        return None
    source = Path(given).expanduser()
    if not is_current(source):
        return None
    configured = env.get("NUMBA_CACHE_DIR", "")
    dest = Path(configured).expanduser() if configured else None
    if dest is None or not private_folder(dest):
        import atexit
        import tempfile

        dest = Path(tempfile.mkdtemp(prefix="cqox-numba-"))
        atexit.register(shutil.rmtree, dest, True)
        env["NUMBA_CACHE_DIR"] = str(dest)
        if environ is None and "numba" in sys.modules:  # kernels declared from now on
            sys.modules["numba"].config.CACHE_DIR = str(dest)
    if read_stamp(dest) != read_stamp(source):
        seed(source, dest)
    return dest


def default_dir(create: bool = True) -> Path | None:
    """``kernels`` under CQOx's cache directory (:mod:`cqox._cachedir`).

    With ``create``, the folder is made if need be and ``None`` returned unless it is
    writable; without, it is only named (``None`` when caching is disabled).
    """
    from cqox._cachedir import cache_dir, cache_root

    if create:
        return cache_dir(SUBDIR)
    try:
        root = cache_root()
    except RuntimeError:  # no home directory to expand
        return None
    return None if root is None else root / SUBDIR


def numba_default_dirs() -> dict[str, Path]:
    """Per kernel module: the folder Numba caches it in for this process's environment.

    ``NUMBA_CACHE_DIR`` when set, else the ``__pycache__`` next to the source when
    writable, else Numba's folder in the user's cache (Numba's own choice, read from a
    dispatcher: importing the module compiles nothing).
    """
    import importlib

    out = {}
    for name in KERNEL_MODULES:
        module = importlib.import_module(name)
        side = next(
            o
            for o in vars(module).values()
            if getattr(o, "stats", None) is not None and getattr(o, "__module__", None) == name
        )
        out[name] = Path(side.stats.cache_path)
    return out


def install(cache_dir: Path, targets: dict[str, Path]) -> int:
    """Copy each kernel module's files from the built ``cache_dir`` into ``targets[module]``.

    ``cache_dir`` has Numba's ``NUMBA_CACHE_DIR`` layout (a subfolder per source folder,
    :func:`cache_subpath`); a target is the folder Numba reads
    that module's cache from (:func:`numba_default_dirs`).  The index and data files do
    not depend on where they lie.  Returns the number of files copied.
    """
    root = _package_root()
    copied = 0
    with _locked(cache_dir, exclusive=False, timeout=BUILD_TIMEOUT_S):
        for name, rel in KERNEL_MODULES.items():
            source = root / rel
            sub = cache_dir / cache_subpath(source)
            prefix = source.stem + "."
            for src in sorted(sub.glob(prefix + "*")) if sub.is_dir() else []:
                if src.name.endswith(CACHE_SUFFIXES) and not src.is_symlink():
                    _copy_atomic(src, targets[name] / src.name)
                    copied += 1
    return copied


def cache_subpath(source: Path) -> str:
    """The subfolder of ``NUMBA_CACHE_DIR`` where Numba caches the kernels of ``source``.

    Numba's ``_CacheLocator.get_suitable_cache_subpath`` (private to Numba); where a
    Numba lacks it, the same rule as in Numba 0.60–0.68: the name of the source's
    folder, ``_``, the SHA-1 of the folder's absolute path.  Should a later Numba name
    its folders otherwise, :func:`install` finds nothing to copy and the kernels compile
    on first use, as without a warm-up.
    """
    try:
        from numba.core.caching import _CacheLocator

        return str(_CacheLocator.get_suitable_cache_subpath(str(source)))
    except (ImportError, AttributeError):
        folder = os.path.dirname(os.path.abspath(source))
        return f"{os.path.basename(folder)}_{hashlib.sha1(folder.encode()).hexdigest()}"


def _copy_atomic(src: Path, target: Path) -> None:
    """Copy through a temporary name and a rename: a reader never sees a partial file."""
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = target.with_name(f".{target.name}.{os.getpid()}.tmp")
    shutil.copyfile(src, tmp)
    os.replace(tmp, target)


def main(argv: list[str] | None = None) -> int:
    """``python -m cqox.analysis.kernel_cache --in-process``: warm up here, print the stats."""
    import argparse

    parser = argparse.ArgumentParser(prog="python -m cqox.analysis.kernel_cache")
    parser.add_argument("--in-process", action="store_true", help="warm up in this process")
    parser.add_argument(
        "--only", action="append", choices=sorted(WORKLOADS), help="run this workload only"
    )
    args = parser.parse_args(argv)
    if not args.in_process:
        parser.error("use `cqox warm-up` to build a kernel cache")
    timings: dict[str, dict[str, float]] = {}
    kernels = warm_up(args.only, timings)
    from cqox.estimators.rd import _lp_kernel

    where = str(_lp_kernel.side_kernel.stats.cache_path)
    report = {"kernels": kernels, "cache_path": where, "timings": timings}
    print(json.dumps(report, sort_keys=True))
    return 0


if __name__ == "__main__":
    sys.exit(main())
