"""Workers cannot hurt the host: no secrets, no root, a memory limit, their own group.

The checks read ``/proc/<worker pid>`` from the outside, so they see what the worker
really got rather than what it was asked to do.  The service under test was started
with secrets planted in its environment (see ``conftest.PLANTED``).
"""

from __future__ import annotations

import os
import re

import pytest

from cqox.server import sandbox
from tests.api.conftest import Api
from tests.security.conftest import PLANTED, proc_file, wait_for_workers

#: Variable names that look like credentials (none may reach a worker).
SECRET_NAME = re.compile(r"SECRET|PASSWORD|PASSWD|TOKEN|CREDENTIAL|DATABASE_URL|^AWS_|^CQOX_")

linux_only = pytest.mark.skipif(not os.path.isdir("/proc/self"), reason="reads /proc (Linux)")


def _environ(pid: int) -> dict[str, str]:
    lines = [x for x in proc_file(pid, "environ").split("\n") if "=" in x]
    return dict(x.split("=", 1) for x in lines)


@linux_only
def test_workers_get_no_secret_from_the_service_environment(secure_api: Api) -> None:
    assert os.environ["CQOX_SECRET_KEY"] == PLANTED["CQOX_SECRET_KEY"]  # planted in the parent
    for pid in wait_for_workers(secure_api):
        env = _environ(pid)
        assert env, "the worker's environment could not be read"
        leaked = sorted(k for k in env if SECRET_NAME.search(k))
        assert not leaked, f"worker {pid} received {leaked}"
        text = proc_file(pid, "environ")
        for value in PLANTED.values():
            assert value not in text
        # what it does get: one thread per worker, a private home
        assert env["OMP_NUM_THREADS"] == "1"
        assert env["HOME"] == env["TMPDIR"] and env["HOME"].startswith(os.path.dirname(env["HOME"]))


def test_the_worker_environment_is_an_allow_list(tmp_path: os.PathLike[str]) -> None:
    from pathlib import Path

    source = {
        "PATH": "/usr/bin",
        "LANG": "C.UTF-8",
        "LC_ALL": "C.UTF-8",
        "CQOX_SECRET_KEY": "s",
        "MY_API_KEY": "k",
        "LD_PRELOAD": "/tmp/evil.so",
        "PYTHONSTARTUP": "/tmp/evil.py",
        "HTTP_PROXY": "http://user:pw@proxy",
    }
    env = sandbox.worker_environment(Path(tmp_path), source)
    assert {"PATH", "LANG", "LC_ALL"} <= set(env)
    for name in ("CQOX_SECRET_KEY", "MY_API_KEY", "LD_PRELOAD", "PYTHONSTARTUP", "HTTP_PROXY"):
        assert name not in env
    # the worker imports the service's own cqox, wherever it comes from
    import cqox

    assert env["PYTHONPATH"].split(os.pathsep)[0] == str(Path(cqox.__file__).resolve().parents[1])


@linux_only
@pytest.mark.skipif(os.geteuid() != 0, reason="privileges are dropped only by a root service")
def test_a_root_service_runs_its_workers_as_an_unprivileged_user(secure_api: Api) -> None:
    import pwd

    nobody = pwd.getpwnam(secure_api.settings.worker_user)
    for pid in wait_for_workers(secure_api):
        status = proc_file(pid, "status")
        uids = re.search(r"^Uid:\s+(.*)$", status, re.M)
        gids = re.search(r"^Gid:\s+(.*)$", status, re.M)
        groups = re.search(r"^Groups:[ \t]*(.*)$", status, re.M)
        assert uids and gids and groups
        # real, effective, saved and file-system ids: all unprivileged, none root
        assert {int(x) for x in uids.group(1).split()} == {nobody.pw_uid}
        assert {int(x) for x in gids.group(1).split()} == {nobody.pw_gid}
        assert groups.group(1).split() in ([], [str(nobody.pw_gid)])


@linux_only
@pytest.mark.skipif(os.geteuid() != 0, reason="privileges are dropped only by a root service")
def test_jobs_still_run_when_the_worker_cannot_read_the_data_folder(secure_api: Api) -> None:
    # the test's data folder is private to root (0700): the worker reads datasets only
    # through the descriptor the service passes, and the service writes the artefacts
    data_dir = secure_api.settings.data_dir
    os.chmod(data_dir, 0o700)
    h = secure_api.user("analyst")
    ds = secure_api.dataset(h)
    r = secure_api.client.post(
        "/api/analyze/ate", headers=h, json={"dataset_id": ds, "estimator": "ipw"}
    )
    assert r.status_code == 200, r.text
    analysis_id = r.json()["analysis_id"]
    figures = secure_api.client.get(f"/api/analyses/{analysis_id}/figures", headers=h)
    assert figures.status_code == 200, figures.text
    stored = data_dir / "analyses" / f"{analysis_id}.pkl"
    assert stored.stat().st_uid == os.geteuid()  # written by the service, not the worker


@linux_only
def test_workers_have_the_configured_address_space_limit(secure_api: Api) -> None:
    limit = secure_api.settings.worker_memory_mb
    assert limit is not None
    for pid in wait_for_workers(secure_api):
        line = next(x for x in proc_file(pid, "limits").splitlines() if "address space" in x)
        soft, hard = line.split()[3:5]
        assert int(soft) == int(hard) == limit * 1024 * 1024


def test_the_default_memory_limit_is_a_share_of_the_ram() -> None:
    from cqox.server.settings import MIN_WORKER_MEMORY_MB, Settings

    ram = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
    s = Settings(secret_key="x" * 40, workers=2)
    assert s.worker_memory_bytes == max(MIN_WORKER_MEMORY_MB * 2**20, ram // 4)
    assert Settings(secret_key="x" * 40, worker_memory_mb=2048).worker_memory_bytes == 2**31


@linux_only
def test_each_worker_leads_its_own_session_and_process_group(secure_api: Api) -> None:
    service_group = os.getpgid(0)
    for pid in wait_for_workers(secure_api):
        assert os.getpgid(pid) == pid != service_group
        assert os.getsid(pid) == pid


def test_an_allocation_beyond_the_limit_fails_inside_the_worker_only() -> None:
    import subprocess
    import sys

    code = (
        "from cqox.server.worker import limit_memory\n"
        "limit_memory(3 * 2**30)\n"
        "import numpy as np\n"
        "try:\n"
        "    np.ones(2**29 + 2**28)\n"  # 6 GiB
        "except MemoryError:\n"
        "    print('refused')\n"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=120, check=False
    )
    assert out.stdout.strip() == "refused", out.stderr[-2000:]
