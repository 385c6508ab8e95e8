"""Cold start: what a user waits for, each run a fresh process.

The rest of the suite times warm processes; a user's ``cqox analyze`` starts Python,
imports the libraries, reads the file and runs every estimator once.  Each command
here runs ``--runs`` times (default 10) as a separate process; the table gives the
median wall time, the median CPU time (user + system of the child) and the load
average around the runs, since the machine may be shared::

    python -m benchmarks.cold_start             # 10 runs of each command
    python -m benchmarks.cold_start --runs 3    # quicker

The analysis is the issue's: 10,000 rows × 50 covariates (``benchmarks.datagen.
cross_section``), every backdoor estimator with linear/logit DML nuisances, gates and
sensitivity.  *engine* is the time inside ``cqox.analyze`` in a fresh process (imports
and file reading excluded).  Results go to ``benchmarks/results/cold_start.json`` and
to the "Cold start" section of ``docs/benchmarks.md`` (which ``benchmarks.run`` keeps).

The service rows start ``cqox serve`` (one warmed-up worker, SQLite, loopback) in a
temporary data directory: start → ready, the first analysis of the same table after
ready, the median of ``--runs`` more (*p50*), and a finished report and PNG figure,
first rendered, then served from the artefact cache (``--no-service`` skips them).

The RD rows: the installation step ``cqox warm-up`` compiles every family's kernels
into a new Numba cache (``NUMBA_CACHE_DIR``, a temporary folder: a fresh installation),
timed once; then ``cqox analyze`` on a 10,000-row sharp RD table
(``benchmarks.datagen.sharp_rd``) in fresh processes that read it (no unrecorded run
first: the warm-up alone must make them compile nothing), the first ``psm`` and
``causal_forest`` calls in a fresh process (time inside ``cqox.estimate``, same rule),
and the first RD request to the service, whose worker was seeded from that cache
(``CQOX_KERNEL_CACHE_DIR``).
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / "benchmarks" / "results" / "cold_start.json"
BEGIN = "<!-- cold-start:begin -->"
END = "<!-- cold-start:end -->"
#: The issue's goals (seconds) per row.
GOALS = {
    "cqox --version": 0.5,
    "cqox estimators": 0.5,
    "cqox analyze (10k × 50, linear nuisances)": 2.0,
    "engine: cqox.analyze in a fresh process": 1.0,
    "service: first analysis after ready (10k × 50)": 1.5,
    "service: analysis p50 (10k × 50)": 0.6,
    "service: report, cached": 0.1,
    "service: PNG figure, cached": 0.1,
    "cqox analyze (rd, 10k) in a fresh process": 1.5,
    "service: first rd analysis (10k, fresh worker)": 1.5,
}
#: The installation step that compiles the kernels (``cqox warm-up``), timed once.
WARM_UP = "cqox warm-up (once per installation: compiles the kernels)"
RD = "cqox analyze (rd, 10k) in a fresh process"
#: Seconds to wait for the service to answer /ready.
SERVICE_START_TIMEOUT_S = 300.0
LINEAR = ("--set", "dml_plr.learner=linear", "--set", "dml_irm.learner=linear")

_ENGINE = """
import json, time, warnings
warnings.simplefilter("ignore")
from cqox.data.io import read_table
import cqox
frame = read_table({path!r}).frame
start, cpu = time.perf_counter(), time.process_time()
an = cqox.analyze(frame, outcome="y", treatment="t", seed=0,
                  params={{"dml_plr": {{"learner": "linear"}}, "dml_irm": {{"learner": "linear"}}}})
engine, engine_cpu = time.perf_counter() - start, time.process_time() - cpu
print(json.dumps({{"engine_s": engine, "engine_cpu_s": engine_cpu, "n": len(an.estimates)}}))
"""

#: The first call of one estimator in a fresh process (imports and reading excluded):
#: with ``cqox warm-up`` done, a kernel is loaded from the cache, never compiled.
_FIRST_CALL = """
import json, time, warnings
warnings.simplefilter("ignore")
from cqox.data.io import read_table
import cqox
frame = read_table({path!r}).frame
start, cpu = time.perf_counter(), time.process_time()
cqox.estimate({name!r}, frame, outcome="y", treatment="t", seed=0, **{kwargs!r})
engine, engine_cpu = time.perf_counter() - start, time.process_time() - cpu
print(json.dumps({{"engine_s": engine, "engine_cpu_s": engine_cpu}}))
"""
#: Covariates of the backdoor table (x1 … x50).
COVARIATES = 50
FIRST_PSM = "engine: first psm call in a fresh process (10k × 50)"
FIRST_FOREST = "engine: first causal_forest call in a fresh process (10k × 5, 200 trees)"


def _child_cpu() -> float:
    ru = resource.getrusage(resource.RUSAGE_CHILDREN)
    return ru.ru_utime + ru.ru_stime


def time_command(argv: list[str], runs: int, env: dict[str, str]) -> dict[str, Any]:
    """Run ``argv`` ``runs`` times as fresh processes; wall and CPU time of each."""
    walls, cpus, outputs = [], [], []
    load_before = os.getloadavg()
    for _ in range(runs):
        cpu0 = _child_cpu()
        start = time.perf_counter()
        proc = subprocess.run(argv, capture_output=True, text=True, env=env, check=False)
        walls.append(time.perf_counter() - start)
        cpus.append(_child_cpu() - cpu0)
        if proc.returncode != 0:
            raise RuntimeError(f"{argv} failed: {proc.stderr.strip()[-500:]}")
        outputs.append(proc.stdout)
    return {
        "runs": runs,
        "wall_s": walls,
        "cpu_s": cpus,
        "median_wall_s": statistics.median(walls),
        "median_cpu_s": statistics.median(cpus),
        "load_before": [round(x, 2) for x in load_before],
        "load_after": [round(x, 2) for x in os.getloadavg()],
        "outputs": outputs,
    }


def _free_port() -> int:
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _timed(call: Any) -> tuple[float, Any]:
    start = time.perf_counter()
    out = call()
    return time.perf_counter() - start, out


def _row(
    walls: list[float], load_before: tuple[float, ...], cpus: list[float] | None = None
) -> dict[str, Any]:
    row: dict[str, Any] = {
        "runs": len(walls),
        "wall_s": walls,
        "median_wall_s": statistics.median(walls),
        "load_before": [round(x, 2) for x in load_before],
        "load_after": [round(x, 2) for x in os.getloadavg()],
    }
    if cpus:
        row["cpu_s"] = cpus
        row["median_cpu_s"] = statistics.median(cpus)
    return row


def _tree_cpu(pid: int) -> float | None:
    """CPU seconds of process ``pid``, its threads and its descendants so far (Linux).

    From ``/proc/<pid>/task/<tid>/schedstat`` (nanoseconds on the CPU); ``None`` where
    there is no ``/proc``.  The service's CPU per request is the difference of two
    readings: the API process and its worker processes together.
    """
    total = 0
    try:
        tasks = os.listdir(f"/proc/{pid}/task")
    except OSError:
        return None
    for tid in tasks:
        try:
            with open(f"/proc/{pid}/task/{tid}/schedstat") as fh:
                total += int(fh.read().split()[0])
            with open(f"/proc/{pid}/task/{tid}/children") as fh:
                children = [int(c) for c in fh.read().split()]
        except (OSError, ValueError):
            continue
        for child in children:
            total += round((_tree_cpu(child) or 0.0) * 1e9)
    return total / 1e9


def _timed_cpu(call: Any, pid: int) -> tuple[float, float | None]:
    """Wall time of ``call`` and the CPU time it cost: the service's (``pid``) and ours."""
    service0, own0 = _tree_cpu(pid), time.process_time()
    wall = _timed(call)[0]
    service1, own1 = _tree_cpu(pid), time.process_time()
    if service0 is None or service1 is None:
        return wall, None
    return wall, service1 - service0 + own1 - own0


def measure_service(
    path: str, runs: int, env: dict[str, str], rd_path: str | None = None
) -> dict[str, Any]:
    """The service rows: ``cqox serve`` in a temporary data directory, on loopback."""
    import httpx

    rows: dict[str, Any] = {}
    password = "cold-start benchmark password"
    with tempfile.TemporaryDirectory() as data_dir:
        senv = {k: v for k, v in env.items() if not k.startswith("CQOX_")}
        senv.update(
            CQOX_DATA_DIR=data_dir,
            CQOX_SECRET_KEY="cold-start-" + "k" * 40,
            CQOX_WORKERS="1",
            CQOX_RATE_LIMIT_PER_MINUTE="0",
            CQOX_RATE_LIMIT_IP_PER_MINUTE="0",
            CQOX_CACHE_DIR=str(Path(data_dir) / "cache"),
        )
        if env.get("NUMBA_CACHE_DIR"):  # the installation's warmed kernels (cqox warm-up)
            senv["CQOX_KERNEL_CACHE_DIR"] = env["NUMBA_CACHE_DIR"]
        cli = [sys.executable, "-m", "cqox.cli.main"]
        subprocess.run(
            [*cli, "users", "create", "bench", "--role", "analyst", "--password-stdin"],
            input=password + "\n",
            env=senv,
            capture_output=True,
            text=True,
            timeout=300,
            check=True,
        )
        port = _free_port()
        url = f"http://127.0.0.1:{port}"
        load0 = os.getloadavg()
        start = time.perf_counter()
        with open(Path(data_dir) / "serve.log", "wb") as log:
            server = subprocess.Popen(
                [*cli, "serve", "--port", str(port)], env=senv, stdout=log, stderr=log
            )
            try:
                deadline = start + SERVICE_START_TIMEOUT_S
                while True:
                    if server.poll() is not None or time.perf_counter() > deadline:
                        raise RuntimeError("cqox serve did not become ready")
                    try:
                        if httpx.get(url + "/ready", timeout=2).status_code == 200:
                            break
                    except httpx.HTTPError:
                        pass
                    time.sleep(0.05)
                rows["service: start → ready"] = _row([time.perf_counter() - start], load0)
                rows.update(_service_requests(url, path, password, runs, server.pid, rd_path))
            finally:
                server.terminate()
                try:
                    server.wait(timeout=30)
                except subprocess.TimeoutExpired:
                    server.kill()
                    server.wait(timeout=30)
    return rows


def _service_requests(
    url: str, path: str, password: str, runs: int, server_pid: int, rd_path: str | None = None
) -> dict[str, Any]:
    """First and repeated analyses, then report and figure fetches (first, cached).

    Each row has the wall time and the CPU time of each request: the service's
    processes (API and worker) and this client's, together (:func:`_timed_cpu`).
    """
    import httpx

    rows: dict[str, Any] = {}
    with httpx.Client(base_url=url, timeout=600) as client:
        token = client.post("/api/auth/login", json={"username": "bench", "password": password})
        token.raise_for_status()
        h = {"Authorization": f"Bearer {token.json()['access_token']}"}
        with open(path, "rb") as fh:
            up = client.post("/api/upload", files={"file": ("data.parquet", fh)}, headers=h)
        up.raise_for_status()
        body = {
            "dataset_id": up.json()["dataset_id"],
            "roles": {"outcome": "y", "treatment": "t"},
            "options": {
                "seed": 0,
                "wait_s": 60,
                "params": {"dml_plr": {"learner": "linear"}, "dml_irm": {"learner": "linear"}},
            },
        }

        last: list[str] = []

        def analyze() -> str:
            r = client.post("/api/analyze/comprehensive", json=body, headers=h)
            if r.status_code != 200:
                raise RuntimeError(f"analysis failed: {r.status_code} {r.text[:300]}")
            last[:] = [str(r.json()["analysis_id"])]
            return last[0]

        def timed(call: Any, n: int) -> tuple[list[float], list[float]]:
            walls, cpus = [], []
            for _ in range(n):
                wall, cpu = _timed_cpu(call, server_pid)
                walls.append(wall)
                if cpu is not None:
                    cpus.append(cpu)
            return walls, cpus

        load0 = os.getloadavg()
        walls, cpus = timed(analyze, 1)
        rows["service: first analysis after ready (10k × 50)"] = _row(walls, load0, cpus)
        aid = last[0]  # the first analysis: its report and figure are fetched below
        load0 = os.getloadavg()
        walls, cpus = timed(analyze, runs)
        rows["service: analysis p50 (10k × 50)"] = _row(walls, load0, cpus)
        for name, route in (
            ("report", f"/api/analyses/{aid}/report"),
            ("PNG figure", f"/api/analyses/{aid}/figures/forest.png"),
        ):
            load0 = os.getloadavg()

            def get(route: str = route) -> None:
                client.get(route, headers=h).raise_for_status()

            walls, cpus = timed(get, 1)
            rows[f"service: {name}, first fetch"] = _row(walls, load0, cpus)
            load0 = os.getloadavg()
            walls, cpus = timed(get, runs)
            rows[f"service: {name}, cached"] = _row(walls, load0, cpus)
        if rd_path is not None:  # the worker's first RD request (its kernels were seeded)
            with open(rd_path, "rb") as fh:
                up = client.post("/api/upload", files={"file": ("rd.parquet", fh)}, headers=h)
            up.raise_for_status()
            body = {
                "dataset_id": up.json()["dataset_id"],
                "roles": {"outcome": "y", "running": "x", "cutoff": 0.0},
                "options": {"seed": 0, "wait_s": 60},
            }
            load0 = os.getloadavg()
            walls, cpus = timed(analyze, 1)
            rows["service: first rd analysis (10k, fresh worker)"] = _row(walls, load0, cpus)
    return rows


def measure(runs: int, service: bool = True) -> dict[str, Any]:
    """Every row of the table."""
    from benchmarks.datagen import cross_section, sharp_rd

    env = {
        **os.environ,
        "OMP_NUM_THREADS": "1",
        "OMP_WAIT_POLICY": "PASSIVE",
        "PYTHONPATH": os.pathsep.join([str(ROOT / "src"), str(ROOT)]),
    }
    # an installed package has its bytecode compiled (pip does it); without .pyc files
    # every run would compile CQOx's sources again (about 0.5 s)
    env.pop("PYTHONDONTWRITEBYTECODE", None)
    py = sys.executable
    rows: dict[str, Any] = {}
    with tempfile.TemporaryDirectory() as tmp:
        # a fresh installation's Numba cache, filled by its installation step (cqox warm-up)
        env["NUMBA_CACHE_DIR"] = str(Path(tmp) / "numba")
        path = str(Path(tmp) / "cross_section_10k.parquet")
        cross_section(n=10_000, p=COVARIATES, seed=11).frame.to_parquet(path)
        rd_path = str(Path(tmp) / "sharp_rd_10k.parquet")
        sharp_rd(n=10_000, seed=11).frame.to_parquet(rd_path)
        print(f"  {WARM_UP} …", end="", flush=True)
        rows[WARM_UP] = time_command([py, "-m", "cqox.cli.main", "warm-up"], 1, env)
        rows[WARM_UP].pop("outputs")
        once = rows[WARM_UP]
        print(f" {once['median_wall_s']:.2f} s wall, {once['median_cpu_s']:.2f} s CPU")
        commands = {
            "cqox --version": [py, "-m", "cqox.cli.main", "--version"],
            "cqox estimators": [py, "-m", "cqox.cli.main", "estimators"],
            "cqox analyze (10k × 50, linear nuisances)": [
                *(py, "-m", "cqox.cli.main", "analyze", path),
                *("--outcome", "y", "--treatment", "t", *LINEAR, "--quiet"),
            ],
            "engine: cqox.analyze in a fresh process": [py, "-c", _ENGINE.format(path=path)],
            RD: [
                *(py, "-m", "cqox.cli.main", "analyze", rd_path),
                *("--outcome", "y", "--running", "x", "--cutoff", "0", "--quiet"),
            ],
            FIRST_PSM: [
                py,
                "-c",
                _FIRST_CALL.format(
                    path=path,
                    name="psm",
                    kwargs={"covariates": [f"x{j}" for j in range(1, COVARIATES + 1)]},
                ),
            ],
            FIRST_FOREST: [
                py,
                "-c",
                _FIRST_CALL.format(
                    path=path,
                    name="causal_forest",
                    kwargs={
                        "covariates": ["x1", "x2", "x3", "x4", "x5"],
                        "learner": "linear",
                        "n_trees": 200,
                    },
                ),
            ],
        }
        # one unrecorded run first: compiled bytecode and Numba caches are written once
        # per installation, not per user run (the kernels of the RD, psm and causal
        # forest rows: by cqox warm-up above, so those rows get no unrecorded run)
        for name, argv in commands.items():
            if name not in (RD, FIRST_PSM, FIRST_FOREST):
                subprocess.run(argv, capture_output=True, env=env, check=False)
        for name, argv in commands.items():
            print(f"  {name} …", end="", flush=True)
            row = time_command(argv, runs, env)
            if name.startswith("engine"):
                engines = [
                    json.loads(o.strip().splitlines()[-1])["engine_s"] for o in row["outputs"]
                ]
                row["engine_s"] = engines
                row["median_engine_s"] = statistics.median(engines)
                row["median_engine_cpu_s"] = statistics.median(
                    json.loads(o.strip().splitlines()[-1])["engine_cpu_s"] for o in row["outputs"]
                )
            row.pop("outputs")
            rows[name] = row
            extra = f", engine {row['median_engine_s']:.2f} s" if "median_engine_s" in row else ""
            print(
                f" median {row['median_wall_s']:.2f} s wall, {row['median_cpu_s']:.2f} s CPU"
                f"{extra} (load {row['load_before'][0]} → {row['load_after'][0]})"
            )
        if service:
            print("  service …", flush=True)
            for name, row in measure_service(path, runs, env, rd_path).items():
                rows[name] = row
                cpu = f", {row['median_cpu_s']:.3f} s CPU" if "median_cpu_s" in row else ""
                print(
                    f"  {name}: median {row['median_wall_s']:.3f} s wall{cpu} "
                    f"(load {row['load_before'][0]} → {row['load_after'][0]})"
                )
    return {"rows": rows, "cores": os.cpu_count(), "python": sys.version.split()[0]}


def section(result: dict[str, Any]) -> list[str]:
    """The "Cold start" section of docs/benchmarks.md."""
    lines = [
        BEGIN,
        "## Cold start (fresh processes)",
        "",
        "Generated by `python -m benchmarks.cold_start` (part of `make bench`). Each command "
        "runs as a separate process, *runs* times after one unrecorded run (which writes "
        "the bytecode and Numba caches of a new installation); *wall* and *CPU* (user + "
        "system) are medians. *load* is the 1-minute load average before → after the "
        f"runs on {result.get('cores', '?')} cores: above the core count the wall times "
        "include waiting for other jobs, the CPU times much less so.",
        "",
        "| command | runs | median wall s | median CPU s | goal s | met? (wall) | met? (CPU) "
        "| load |",
        "| --- | ---: | ---: | ---: | ---: | :---: | :---: | --- |",
    ]
    for name, row in result["rows"].items():
        value = row.get("median_engine_s", row["median_wall_s"])
        goal = GOALS.get(name)
        cpu_s = row.get("median_engine_cpu_s", row.get("median_cpu_s"))
        cpu = "" if cpu_s is None else f"{cpu_s:.3f}"
        met = "" if goal is None else ("yes" if value <= goal else "no")
        # the CPU time of a single-threaded command is its wall time on an idle core
        met_cpu = "" if goal is None or cpu_s is None else ("yes" if cpu_s <= goal else "no")
        lines.append(
            f"| {name} | {row['runs']} | {value:.3f} | {cpu} | "
            f"{'' if goal is None else goal} | {met} | {met_cpu} | "
            f"{row['load_before'][0]} → {row['load_after'][0]} |"
        )
    lines += [
        "",
        "The engine row is the time inside `cqox.analyze` (wall and CPU time of the "
        "process; imports and reading the file excluded) in a fresh process. The service "
        "rows time HTTP requests to `cqox serve` on loopback (one worker, warmed up at "
        "start; the same table and settings as `cqox analyze`, sent inline with `wait_s`); "
        "their CPU time sums the API and worker processes and the client (Linux `/proc`): "
        "they run mostly one after the other, so on an idle machine it is close to the "
        "wall time (which adds the waits for the disk and the sockets), and on a loaded "
        "one it is the fairer number. *cached* is a second fetch, served from the "
        "artefact cache. The RD rows: `cqox warm-up` (the installation step of `make "
        "install`/`make run` and of the container image) compiles every family's kernels "
        "once into a new Numba cache; the RD command and the first psm and causal_forest "
        "calls (time inside `cqox.estimate`) then run with no unrecorded run before them, "
        "and the service's worker is seeded from that cache (`CQOX_KERNEL_CACHE_DIR`).",
        END,
    ]
    return lines


def write_section(doc: Path, result: dict[str, Any]) -> None:
    """Replace (or append) the cold-start section of ``doc``."""
    text = doc.read_text(encoding="utf-8") if doc.exists() else ""
    block = "\n".join(section(result))
    if BEGIN in text and END in text:
        head, rest = text.split(BEGIN, 1)
        tail = rest.split(END, 1)[1]
        text = head + block + tail
    else:
        text = text.rstrip("\n") + "\n\n" + block + "\n"
    doc.write_text(text, encoding="utf-8")


def saved_section() -> list[str]:
    """The section from the last saved run (for ``benchmarks.run``), or nothing."""
    if not RESULTS.exists():
        return []
    return ["", *section(json.loads(RESULTS.read_text(encoding="utf-8")))]


def main(argv: list[str] | None = None) -> int:
    """Entry point."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=10, help="fresh processes per command")
    parser.add_argument("--out", default=str(ROOT / "docs" / "benchmarks.md"))
    parser.add_argument("--no-service", action="store_true", help="skip the service rows")
    args = parser.parse_args(argv)
    result = measure(args.runs, service=not args.no_service)
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(json.dumps(result, indent=1), encoding="utf-8")
    write_section(Path(args.out), result)
    print(f"wrote {args.out} and {RESULTS}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
