"""The README's examples (and docs/datasets.md's) run as written, in a fresh folder,
with nothing but CQOx.

Every ```python block is run on its own by a new interpreter; every ```bash block is run
by bash with ``cqox`` meaning this checkout's command line. The working folder is an
empty temporary one, so nothing beside the repository (the developers' ``shared/``
folder, files of earlier runs) is reachable: the examples must make or load their own
data (``cqox simulate``, ``cqox.datasets``). The README's paths point inside the
repository.
"""

from __future__ import annotations

import os
import re
import shlex
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
README = ROOT / "README.md"
#: A block may fit and bootstrap a few estimators on a few thousand rows.
TIMEOUT_S = 600

FENCE = re.compile(r"^```(?P<lang>[\w-]*)\n(?P<body>.*?)^```\s*$", re.MULTILINE | re.DOTALL)


#: Other pages whose examples are meant to be run as written.
RUNNABLE_DOCS = (ROOT / "docs" / "datasets.md",)


def _blocks(lang: str, *pages: Path) -> list[str]:
    return [
        m["body"]
        for page in pages or (README,)
        for m in FENCE.finditer(page.read_text())
        if m["lang"] == lang
    ]


def _block_id(body: str) -> str:
    lines = [ln for ln in body.splitlines() if ln.strip() and not ln.startswith(("import", "#"))]
    return re.sub(r"\W+", "_", lines[0])[:40].strip("_") if lines else "empty"


def _fresh_env() -> dict[str, str]:
    """This interpreter, this checkout's sources, no service settings, one thread."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("CQOX_")}
    env["PYTHONPATH"] = os.pathsep.join([str(ROOT / "src"), env.get("PYTHONPATH", "")])
    env.update(MPLBACKEND="Agg", OMP_NUM_THREADS="1", PYTHONWARNINGS="ignore")
    return env


def _run(args: list[str], cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        args, cwd=cwd, env=_fresh_env(), capture_output=True, text=True, timeout=TIMEOUT_S
    )


PYTHON_BLOCKS = _blocks("python", README, *RUNNABLE_DOCS)
BASH_BLOCKS = _blocks("bash")


def test_readme_has_runnable_examples_and_no_path_outside_the_repository() -> None:
    assert len(_blocks("python")) >= 3 and BASH_BLOCKS
    text = README.read_text()
    assert "../" not in text and "shared/" not in text


@pytest.mark.parametrize("code", PYTHON_BLOCKS, ids=[_block_id(b) for b in PYTHON_BLOCKS])
def test_python_block_runs_as_written(code: str, tmp_path: Path) -> None:
    script = tmp_path / "example.py"
    script.write_text(code)
    done = _run([sys.executable, str(script)], tmp_path)
    assert done.returncode == 0, f"README block failed:\n{code}\n--- stderr:\n{done.stderr}"
    assert done.stdout.strip(), "a README example should show its result"


@pytest.mark.parametrize("code", BASH_BLOCKS, ids=[_block_id(b) for b in BASH_BLOCKS])
def test_bash_block_runs_as_written(code: str, tmp_path: Path) -> None:
    cqox = f"{shlex.quote(sys.executable)} -m cqox.cli.main"
    script = f'set -euo pipefail\ncqox() {{ {cqox} "$@"; }}\n{code}'
    done = _run(["bash", "-c", script], tmp_path)
    assert done.returncode == 0, f"README block failed:\n{code}\n--- stderr:\n{done.stderr}"
    written = {p.name for p in tmp_path.iterdir()}
    for name in re.findall(r"(?:--out|--json|--report) (\S+)", code):
        assert name in written, f"{name} was not written"


def test_cli_example_of_a_bad_role_prints_the_documented_line(tmp_path: Path) -> None:
    documented = re.search(r"`(cqox: error: role 'outcome'[^`]*)`", README.read_text())
    assert documented is not None
    cqox = [sys.executable, "-m", "cqox.cli.main"]
    assert _run([*cqox, "simulate", "--out", "data.csv"], tmp_path).returncode == 0
    done = _run([*cqox, "analyze", "data.csv", "--outcome", "yy"], tmp_path)
    assert done.returncode == 2
    # the README quotes the line up to the hint; the list of columns follows
    assert done.stderr.strip().startswith(documented[1])


def test_paths_the_readme_names_exist_in_the_repository() -> None:
    text = README.read_text()
    named = set(re.findall(r"`((?:docs|src)/[\w./*-]+|LICENSE|CHANGELOG\.md)`", text))
    assert named
    for path in sorted(named):
        assert list(ROOT.glob(path)), f"README names {path}, which is not in the repository"
