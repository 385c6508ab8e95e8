"""How a worker process is started so that a job cannot hurt the host.

A worker is a fresh interpreter (``python -m cqox.server.worker``) started with
:class:`subprocess.Popen`, not a ``multiprocessing`` child, because only an explicit
``exec`` decides exactly what the child gets:

- **environment**: :func:`worker_environment` builds it from an allow-list (locale,
  ``PATH``, thread counts, a private ``HOME``/``TMPDIR``).  Secrets of the service
  (``CQOX_SECRET_KEY``, ``CQOX_DATABASE_URL``, passwords, tokens, cloud credentials)
  never reach the worker: they are not copied, not inherited, not in
  ``/proc/<pid>/environ``;
- **identity**: when the service runs as root, the worker becomes an unprivileged user
  (``CQOX_WORKER_USER``, default ``nobody``: ``setgroups([])``, ``setgid``, ``setuid``)
  after importing and warming up the engine and before it reads any job.  It drops
  in-process rather than at ``exec`` because the interpreter may live where that user
  cannot read (``/root/.pyenv``); the engine is loaded first for the same reason.  The
  worker then needs no access to the data folder: the parent opens each dataset and
  passes the open file descriptor, and it writes the artefacts the worker sends back;
- **process group**: the worker leads a new session (``start_new_session``); a job's
  processes (the bootstrap's process pool, loky/joblib workers) are in that group, and
  a time-out or cancellation kills the whole group (:func:`kill_group`);
- **memory**: the worker limits its address space (``RLIMIT_AS``, inherited by its
  children) before it imports anything else.
"""

from __future__ import annotations

import contextlib
import logging
import os
import shutil
import signal
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

log = logging.getLogger("cqox.server.sandbox")

#: Variables copied from the service's environment when set (nothing secret).
PASSED_VARIABLES = (
    "PATH",
    "LANG",
    "LANGUAGE",
    "TZ",
    "PYTHONPATH",
    "VIRTUAL_ENV",
    # the CPU Numba compiles for: part of the key of every cached kernel (a container
    # image's pre-built cache is compiled for NUMBA_CPU_NAME=generic)
    "NUMBA_CPU_NAME",
    "NUMBA_CPU_FEATURES",
)
#: Prefixes of variables copied likewise (locale categories).
PASSED_PREFIXES = ("LC_",)
#: Fixed settings of every worker: one BLAS/OpenMP thread per worker, so that N workers
#: share N cores without oversubscription, and a headless Matplotlib.
FIXED_VARIABLES = {
    "OMP_NUM_THREADS": "1",
    "OPENBLAS_NUM_THREADS": "1",
    "MKL_NUM_THREADS": "1",
    "NUMEXPR_NUM_THREADS": "1",
    "VECLIB_MAXIMUM_THREADS": "1",
    "OMP_WAIT_POLICY": "PASSIVE",
    "MPLBACKEND": "Agg",
    "PYTHONDONTWRITEBYTECODE": "1",
    "PYTHONUNBUFFERED": "1",
}


def worker_environment(home: Path, source: dict[str, str] | None = None) -> dict[str, str]:
    """The complete environment of a worker: allow-listed variables only.

    ``home`` is the worker's private directory (``HOME``, ``TMPDIR``, caches of
    Matplotlib and Numba).  ``source`` defaults to the service's environment.  The
    folder holding the service's own ``cqox`` package leads ``PYTHONPATH``, so the
    worker runs the same code even from a source checkout that is not installed.
    """
    import cqox

    src = dict(os.environ if source is None else source)
    env = {k: v for k, v in src.items() if k in PASSED_VARIABLES or k.startswith(PASSED_PREFIXES)}
    env.setdefault("PATH", os.defpath)
    package_root = str(Path(cqox.__file__).resolve().parents[1])
    env["PYTHONPATH"] = os.pathsep.join(
        [package_root, *(p for p in env.get("PYTHONPATH", "").split(os.pathsep) if p)]
    )
    env.update(FIXED_VARIABLES)
    h = str(home)
    env.update(
        {
            "HOME": h,
            "TMPDIR": h,
            "MPLCONFIGDIR": str(home / "matplotlib"),
            "NUMBA_CACHE_DIR": str(home / "numba"),
            "JOBLIB_TEMP_FOLDER": h,
        }
    )
    return env


@dataclass(frozen=True)
class Identity:
    """Who a worker runs as: ``None`` ids keep the service's own user."""

    uid: int | None = None
    gid: int | None = None
    name: str | None = None

    def worker_arguments(self) -> list[str]:
        """Command-line arguments that make the worker drop to this identity."""
        if self.uid is None or self.gid is None:
            return []
        return ["--uid", str(self.uid), "--gid", str(self.gid)]


class WorkerUserError(RuntimeError):
    """The configured worker user does not exist (the service refuses to run jobs as root)."""


def worker_identity(user: str) -> Identity:
    """The identity of the workers: ``user`` when the service runs as root, else unchanged.

    Only root may change user; an unprivileged service already runs its workers as
    itself.  An empty ``user`` keeps root (an explicit choice, documented as unsafe).
    """
    geteuid = getattr(os, "geteuid", None)
    if geteuid is None or geteuid() != 0 or not user:
        return Identity()
    import pwd

    try:
        entry = pwd.getpwnam(user)
    except KeyError:
        raise WorkerUserError(
            f"CQOX_WORKER_USER={user!r}: no such user; create it or name an existing "
            "unprivileged user (the service runs as root and will not run jobs as root)"
        ) from None
    if entry.pw_uid == 0:
        raise WorkerUserError(
            f"CQOX_WORKER_USER={user!r} is root (uid 0); name an unprivileged user "
            "(or set it empty to keep root on purpose)"
        )
    return Identity(entry.pw_uid, entry.pw_gid, user)


def private_home(identity: Identity) -> Path:
    """A fresh private directory (mode 0700) owned by the worker's user."""
    home = Path(tempfile.mkdtemp(prefix="cqox-worker-"))
    if identity.uid is not None and identity.gid is not None:
        os.chown(home, identity.uid, identity.gid)
    return home


def prepare_kernel_cache(folder: Path | None, build: bool = True) -> Path | None:
    """The pre-compiled kernel cache to seed workers from, built first if asked and need be.

    A current folder is used as is (a read-only one too: a container image's).  One that
    is missing or out of date (another CQOx, Numba or CPU) is built when ``build`` (the
    folder was configured: ``CQOX_KERNEL_CACHE_DIR``), by
    :func:`cqox.analysis.kernel_cache.build` in a fresh interpreter with a worker's
    allow-listed environment; it runs CQOx's own warm-up only, never a job's input, and
    as the service's user, so workers (which only read it) cannot tamper with what the
    next worker loads.  ``None`` (kernels compile on first use in each worker) when
    there is no current folder or the build fails; both are logged.
    """
    from cqox.analysis.kernel_cache import KernelCacheError, is_current
    from cqox.analysis.kernel_cache import build as build_cache

    if folder is None:
        return None
    if is_current(folder):
        return folder
    if not build:
        log.warning(
            "no current kernel cache in %s: each worker compiles the kernels an analysis "
            "needs on first use (RD: 7-8 s); run `cqox warm-up` once after installing",
            folder,
        )
        return None
    scratch = Path(tempfile.mkdtemp(prefix="cqox-kernels-"))
    try:
        outcome = build_cache(folder, env=worker_environment(scratch))
    except (KernelCacheError, OSError) as exc:
        log.warning("kernel cache %s: not used (%s); kernels compile in each worker", folder, exc)
        return None
    finally:
        remove_home(scratch)
    log.info("kernel cache %s: compiled in %.1f s", folder, outcome["seconds"])
    return folder


def seed_kernel_cache(home: Path, folder: Path | None) -> int:
    """Copy the kernel cache ``folder`` into the worker's private Numba cache (``home/numba``).

    The copy is the worker's own (it may add kernels a job compiles); the shared folder
    is only read.  Returns the number of files copied (0 on any failure: the kernels
    then compile on first use).
    """
    from cqox.analysis.kernel_cache import seed

    if folder is None:
        return 0
    try:
        return seed(folder, home / "numba")
    except OSError as exc:
        log.warning("kernel cache %s: not copied to a worker (%s)", folder, exc)
        return 0


def remove_home(home: Path) -> None:
    """Remove a worker's private directory (ignoring what is already gone)."""
    shutil.rmtree(home, ignore_errors=True)


def group_members(pgid: int) -> list[int]:
    """Live (non-zombie) processes of process group ``pgid`` (Linux ``/proc``)."""
    out = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
        except OSError:
            continue
        # the command may contain spaces and parentheses: fields follow the last ')'
        fields = stat[stat.rfind(")") + 2 :].split()
        if len(fields) > 2 and fields[0] != "Z" and int(fields[2]) == pgid:
            out.append(int(entry.name))
    return out


def kill_group(pgid: int, timeout: float = 5.0) -> bool:
    """SIGKILL every process of group ``pgid``; True when none is left within ``timeout``.

    The group is signalled repeatedly: a process that forked after the first signal
    is caught by the next one.
    """
    deadline = time.monotonic() + timeout
    while True:
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(pgid, signal.SIGKILL)
        if not _group_alive(pgid):
            return True
        if time.monotonic() > deadline:
            return False
        time.sleep(0.01)


def _group_alive(pgid: int) -> bool:
    if Path("/proc/self/stat").exists():
        return bool(group_members(pgid))
    try:  # pragma: no cover (no /proc): signal 0 tells whether any member exists
        os.killpg(pgid, 0)
    except (ProcessLookupError, PermissionError):
        return False
    return True  # pragma: no cover
