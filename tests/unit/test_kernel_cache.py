"""``cqox warm-up`` writes a Numba cache that a fresh process uses without compiling.

The evidence is Numba's dispatcher statistics (a *miss* is a compilation), not timing.
The module fixture compiles the RD and matching kernels once into a temporary folder
(about 10 s of CPU on 2 cores), from two ``cqox warm-up --only rd --only matching``
processes started together: the build lock makes one compile and the other find the
cache current.  The rest checks what invalidates a cache (a changed kernel source,
another CPU), how a worker's and a command line's private caches are seeded, and (slow:
the full warm-up is some 22 s of CPU) that every family's kernels are covered.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from cqox._cachedir import write_atomic
from cqox.analysis import kernel_cache
from cqox.server import sandbox

#: Seconds a warm-up or probe process may take before the test fails (a cold compile
#: is 7-8 s of CPU; a loaded 2-core machine doubles the wall time).
PROCESS_TIMEOUT_S = 300
#: The same for the full warm-up (about 22 s of CPU) and the all-families probe (slow).
FULL_TIMEOUT_S = 1200

#: Families the default-suite cache is built for (the cheap ones; psm's is among them).
BOUNDED = ("rd", "matching")

#: Real analyses per family, other than the warm-up's (other sizes, seeds, entry points).
_PROBE = """
import json, sys, warnings
warnings.simplefilter("ignore")
import numpy as np
import cqox
from cqox.analysis.kernel_cache import compile_stats
families = sys.argv[1:]
if "rd" in families:
    sharp, _ = cqox.simulate.rd_sharp(n=3000, seed=1)
    cqox.analyze(sharp, outcome="y", running="x", cutoff=0.0, seed=1)
    fuzzy, _ = cqox.simulate.rd_fuzzy(n=3000, seed=1)
    cqox.analyze(fuzzy, outcome="y", treatment="d", running="x", cutoff=0.0, estimators=["rd"])
backdoor, _ = cqox.simulate.confounded_binary(n=1500, p=4, seed=2)
roles = dict(outcome="y", treatment="t", covariates=["x1", "x2", "x3", "x4"])
if "matching" in families:
    cqox.analyze(backdoor, **roles, estimators=["psm"], params={"psm": {"caliper": 0.1}})
    cqox.estimate("psm", backdoor, **roles, replace=False, estimand="ATT", order="random")
if "causal_forest" in families:
    cqox.estimate("causal_forest", backdoor, **roles, learner="linear", n_trees=20, seed=2)
if "policy_tree" in families:
    small = backdoor.iloc[:400]  # the exact depth-2 search is quadratic in rows
    cqox.estimate("policy_tree", small, **roles, learner="linear", depth=1, seed=2)
    cqox.estimate("policy_tree", small, **roles, learner="linear", seed=2)
if "synth" in families:
    from cqox.simulate.synth import synth_factor_model
    panel, _ = synth_factor_model(n_donors=8, n_pre=10, n_post=4, seed=2)
    for extra in ({}, {"v_method": "equal", "penalty": 0.5, "se_method": "placebo"}):
        cqox.estimate("synth", panel, outcome="y", leave_one_out=False, conformal_n_perm=99,
                      roles={"unit": "unit", "time": "time", "treatment": "treated"}, **extra)
if "network" in families:
    from cqox.simulate.network import network_interference
    nodes, edges, _ = network_interference(n=150, mean_degree=4, seed=2)
    for design in ("complete", "bernoulli"):
        cqox.estimate("network_exposure", nodes, outcome="y", treatment="t", network=edges,
                      roles={"unit": "id"}, design=design, n_draws=300, n_perm=99, seed=2)
print(json.dumps(compile_stats()))
"""


def _env(**extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k != "NUMBA_CACHE_DIR"}
    env["PYTHONPATH"] = os.pathsep.join(sys.path)
    env.update(extra)
    return env


def _communicate(proc: subprocess.Popen[str], timeout: float = PROCESS_TIMEOUT_S) -> str:
    try:
        out, err = proc.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.communicate(timeout=30)
        raise
    assert proc.returncode == 0, err[-2000:]
    return out


@pytest.fixture(scope="module")
def built(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, list[dict[str, Any]]]:
    """A cache folder filled by two concurrent ``cqox warm-up`` processes; their outcomes."""
    folder = tmp_path_factory.mktemp("kernels")
    argv = [sys.executable, "-m", "cqox.cli.main", "warm-up", "--cache-dir", str(folder), "--json"]
    argv += [arg for name in BOUNDED for arg in ("--only", name)]
    procs = [
        subprocess.Popen(
            argv, env=_env(), stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
        )
        for _ in range(2)
    ]
    outcomes = [json.loads(_communicate(p).strip().splitlines()[-1]) for p in procs]
    return folder, outcomes


def test_concurrent_warm_ups_compile_once_and_stamp_the_cache(
    built: tuple[Path, list[dict[str, Any]]],
) -> None:
    folder, outcomes = built
    assert sorted(o["built"] for o in outcomes) == [False, True]
    compiled = next(o for o in outcomes if o["built"])
    # every kernel of the two families was compiled once, into this folder
    assert {
        "side_kernel",
        "bw_terms",
        "nn_residuals",
        "pinv_sym",
        "nn_intervals",
        "expand_intervals",
        "greedy_without_replacement",
    } <= {name.rsplit(".", 1)[1] for name in compiled["kernels"]}
    assert all(k == {"hits": 0, "misses": 1} for k in compiled["kernels"].values())
    assert kernel_cache.is_current(folder, list(BOUNDED))
    # built for these families only: a full warm-up would build it again
    assert not kernel_cache.is_current(folder, list(kernel_cache.WORKLOADS))
    assert list(folder.rglob("*.nbi")), "no Numba index written"


def _probe(
    cache: str, families: tuple[str, ...], timeout: float = PROCESS_TIMEOUT_S
) -> dict[str, dict[str, int]]:
    """Run :data:`_PROBE` for ``families`` in a fresh process on the Numba cache ``cache``."""
    proc = subprocess.Popen(
        [sys.executable, "-c", _PROBE, *families],
        env=_env(NUMBA_CACHE_DIR=cache),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    stats: dict[str, dict[str, int]] = json.loads(
        _communicate(proc, timeout).strip().splitlines()[-1]
    )
    return stats


def test_a_fresh_process_on_a_seeded_copy_runs_rd_and_psm_without_compiling(
    built: tuple[Path, list[dict[str, Any]]], tmp_path: Path
) -> None:
    folder, _ = built
    home = tmp_path / "worker-home"
    home.mkdir()
    # what the service does for each worker: a private copy in the worker's NUMBA_CACHE_DIR
    assert sandbox.seed_kernel_cache(home, folder) > 0
    cache = sandbox.worker_environment(home)["NUMBA_CACHE_DIR"]
    assert Path(cache) == home / "numba"
    stats = _probe(cache, BOUNDED)
    assert stats, "the probe ran no kernel"
    assert {name: s["misses"] for name, s in stats.items() if s["misses"]} == {}
    assert stats["cqox.estimators.rd._lp_kernel.side_kernel"]["hits"] == 1
    assert stats["cqox.estimators.rd._lp_kernel.bw_terms"]["hits"] == 1
    matching = "cqox.estimators.backdoor._matching_kernels."
    assert stats[matching + "nn_intervals"]["hits"] == 1
    assert stats[matching + "greedy_without_replacement"]["hits"] == 1


def test_the_command_line_seeds_a_private_copy_of_the_installed_cache(
    built: tuple[Path, list[dict[str, Any]]], tmp_path: Path
) -> None:
    # the container image: CQOX_KERNEL_CACHE_DIR names the read-only pre-built cache and
    # NUMBA_CACHE_DIR the user's own; `cqox analyze` copies the one into the other
    folder, _ = built
    mine = tmp_path / "numba"
    env = {kernel_cache.SOURCE_VARIABLE: str(folder), "NUMBA_CACHE_DIR": str(mine)}
    assert kernel_cache.use_installed(env) == mine
    assert oct(mine.stat().st_mode & 0o777) == oct(0o700)
    assert kernel_cache.read_stamp(mine) == kernel_cache.read_stamp(folder)
    assert sorted(p.name for p in mine.rglob("*.nbi")) == sorted(
        p.name for p in folder.rglob("*.nbi")
    )
    # a folder others may write is not used: a new private one is, named for Numba
    shared = tmp_path / "shared"
    shared.mkdir(mode=0o777)
    shared.chmod(0o777)
    env = {kernel_cache.SOURCE_VARIABLE: str(folder), "NUMBA_CACHE_DIR": str(shared)}
    private = kernel_cache.use_installed(env)
    assert private is not None and private != shared
    assert env["NUMBA_CACHE_DIR"] == str(private)
    assert not list(shared.iterdir())
    assert list(private.rglob("*.nbi"))
    # no pre-built cache configured, or one out of date: nothing is done
    assert kernel_cache.use_installed({"NUMBA_CACHE_DIR": str(mine)}) is None
    assert kernel_cache.use_installed({kernel_cache.SOURCE_VARIABLE: str(tmp_path)}) is None


@pytest.mark.slow
@pytest.mark.timeout(3 * FULL_TIMEOUT_S)
def test_every_family_runs_without_compiling_on_a_full_warm_up(tmp_path: Path) -> None:
    # the whole warm-up (about 43 s of CPU on 2 cores: the forest's parallel kernels and
    # the synthetic-control QP cost most), then real analyses of every family
    folder = tmp_path / "kernels"
    outcome = kernel_cache.build(folder, env=_env(), timeout=FULL_TIMEOUT_S)
    assert outcome["built"] and kernel_cache.is_current(folder, list(kernel_cache.WORKLOADS))
    home = tmp_path / "home"
    home.mkdir()
    assert sandbox.seed_kernel_cache(home, folder) > 0
    stats = _probe(str(home / "numba"), tuple(kernel_cache.WORKLOADS), FULL_TIMEOUT_S)
    assert {name: s["misses"] for name, s in stats.items() if s["misses"]} == {}
    modules = {name.rsplit(".", 1)[0] for name, s in stats.items() if s["hits"]}
    assert modules == set(kernel_cache.KERNEL_MODULES)


def test_a_warm_up_of_a_current_cache_compiles_nothing(
    built: tuple[Path, list[dict[str, Any]]],
) -> None:
    folder, _ = built
    assert kernel_cache.build(folder, env=_env(), only=list(BOUNDED))["built"] is False
    assert kernel_cache.build(folder, env=_env(), only=["rd"])["built"] is False


def _fake_package(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A package root holding a copy of the kernel sources, and a current stamp for it."""
    root = tmp_path / "cqox"
    for rel in kernel_cache.KERNEL_MODULES.values():
        target = root / rel
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_bytes((Path(kernel_cache.__file__).parents[1] / rel).read_bytes())
    monkeypatch.setattr(kernel_cache, "_package_root", lambda: root)
    folder = tmp_path / "kernels"
    folder.mkdir()
    assert write_atomic(folder / kernel_cache.STAMP_FILE, json.dumps(kernel_cache.stamp()))
    (folder / "rd_0").mkdir()
    (folder / "rd_0" / "_lp_kernel.side_kernel-1.py311.nbi").write_bytes(b"index")
    (folder / "rd_0" / "_lp_kernel.side_kernel-1.py311.1.nbc").write_bytes(b"data")
    return folder


def test_a_changed_kernel_source_makes_the_cache_out_of_date(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    folder = _fake_package(tmp_path, monkeypatch)
    assert kernel_cache.is_current(folder)
    source = tmp_path / "cqox" / next(iter(kernel_cache.KERNEL_MODULES.values()))
    source.write_text(source.read_text(encoding="utf-8") + "\n# changed\n", encoding="utf-8")
    assert not kernel_cache.is_current(folder)
    # an out-of-date cache is not copied into a worker
    assert sandbox.seed_kernel_cache(tmp_path / "home", folder) == 0


def test_another_cpu_target_makes_the_cache_out_of_date(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    folder = _fake_package(tmp_path, monkeypatch)
    monkeypatch.setenv("NUMBA_CPU_NAME", "generic")
    assert not kernel_cache.is_current(folder)


def test_seeding_copies_cache_files_and_the_stamp_but_no_links_or_strays(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    folder = _fake_package(tmp_path, monkeypatch)
    (folder / "rd_0" / "notes.txt").write_text("not a cache file", encoding="utf-8")
    outside = tmp_path / "outside.nbi"
    outside.write_bytes(b"planted")
    (folder / "rd_0" / "link.nbi").symlink_to(outside)
    home = tmp_path / "home"
    home.mkdir()
    assert sandbox.seed_kernel_cache(home, folder) == 3
    copied = sorted(str(p.relative_to(home / "numba")) for p in (home / "numba").rglob("*.*"))
    assert copied == [
        kernel_cache.STAMP_FILE,
        "rd_0/_lp_kernel.side_kernel-1.py311.1.nbc",
        "rd_0/_lp_kernel.side_kernel-1.py311.nbi",
    ]
    assert sandbox.seed_kernel_cache(home, None) == 0
    assert sandbox.prepare_kernel_cache(None) is None
    # a current folder is used as it is: nothing is compiled
    assert sandbox.prepare_kernel_cache(folder) == folder


def test_every_compiled_callee_lives_in_its_callers_module() -> None:
    # Numba checks a cached kernel against its own source file only: a compiled callee
    # in another file could change without invalidating its callers' machine code
    assert kernel_cache.cross_module_calls() == []


def test_a_compiled_callee_from_another_module_is_reported(monkeypatch: pytest.MonkeyPatch) -> None:
    # the check above finds what it looks for: Numba dispatchers, through the public
    # numba.extending.is_jitted
    from cqox.estimators.rd import _lp_kernel
    from cqox.estimators.synth import _qp

    monkeypatch.setattr(_qp, "_min", _lp_kernel.side_kernel)
    found = kernel_cache.cross_module_calls()
    assert f"{_qp.__name__}._active_set -> {_lp_kernel.__name__}._min" in found


def test_the_cache_subfolder_is_numbas_even_without_its_private_locator(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    import numba.core.caching

    sources = [kernel_cache._package_root() / rel for rel in kernel_cache.KERNEL_MODULES.values()]
    numbas = [kernel_cache.cache_subpath(source) for source in sources]
    assert numbas == [
        numba.core.caching._CacheLocator.get_suitable_cache_subpath(str(s)) for s in sources
    ]
    monkeypatch.delattr(numba.core.caching, "_CacheLocator")
    assert [kernel_cache.cache_subpath(source) for source in sources] == numbas


def test_install_copies_the_built_kernels_to_numbas_folder_for_them(
    built: tuple[Path, list[dict[str, Any]]], tmp_path: Path
) -> None:
    # what `cqox warm-up` does after building CQOx's folder: the files land where
    # Numba looks in a plain process (next to the sources, here a stand-in folder)
    folder, _ = built
    defaults = kernel_cache.numba_default_dirs()
    from cqox.estimators.rd import _lp_kernel

    assert set(defaults) == set(kernel_cache.KERNEL_MODULES)
    assert defaults[_lp_kernel.__name__] == Path(_lp_kernel.side_kernel.stats.cache_path)
    targets = {name: tmp_path / name / "__pycache__" for name in defaults}
    assert kernel_cache.install(folder, targets) == len(list(folder.rglob("*.nb?")))
    for name, stem in (
        (_lp_kernel.__name__, "_lp_kernel."),
        ("cqox.estimators.backdoor._matching_kernels", "_matching_kernels."),
    ):
        names = sorted(p.name for p in targets[name].iterdir())
        assert names and all(n.startswith(stem) and n.endswith((".nbi", ".nbc")) for n in names)
    # families the folder was not built for have nothing to copy
    assert not targets["cqox.estimators.cate._forest_kernels"].exists()


def test_a_service_worker_starts_with_a_copy_of_the_kernel_cache(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from cqox.server import jobs
    from cqox.server.settings import Settings

    folder = _fake_package(tmp_path, monkeypatch)
    settings = Settings(
        data_dir=tmp_path / "data",
        secret_key="kernel-cache-test-" + "k" * 40,
        env="test",
        worker_warm_up=False,
        kernel_cache_dir=str(folder),
    )
    assert settings.kernel_cache_path == folder
    assert Settings(data_dir=tmp_path, kernel_cache_dir="").kernel_cache_path is None
    worker = jobs._Worker(settings, sandbox.Identity(), folder)
    try:
        seeded = worker.home / "numba" / "rd_0" / "_lp_kernel.side_kernel-1.py311.nbi"
        assert seeded.read_bytes() == b"index"
    finally:
        worker.stop()
    assert not worker.home.exists()


def test_the_command_line_offers_every_warm_up_family() -> None:
    # cli.warm_up names the families without importing the engine: the two lists must agree
    from cqox.cli.warm_up import WORKLOAD_NAMES

    assert tuple(kernel_cache.WORKLOADS) == WORKLOAD_NAMES
