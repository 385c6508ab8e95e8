"""``pip install cqox`` without the ``server`` extra: the library and CLI work, and the
service's commands say which extra to install instead of failing with a traceback."""

from __future__ import annotations

import os
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest

from cqox.cli import server_extra
from cqox.cli.main import main

ROOT = Path(__file__).resolve().parents[2]

#: Run in a fresh interpreter where every module of the server extra fails to import
#: (``sys.modules[name] = None``) and cannot be found, as where it is not installed; any
#: import of one by the engine would raise.
BLOCK_SERVER = """
import sys
for name in {modules!r}:
    sys.modules[name] = None
import importlib.util
real_find_spec = importlib.util.find_spec
importlib.util.find_spec = lambda name, *a: (
    None if name.split(".")[0] in {modules!r} else real_find_spec(name, *a)
)
"""


def _without_server(code: str, tmp_path: Path) -> subprocess.CompletedProcess[str]:
    script = BLOCK_SERVER.format(modules=server_extra.SERVER_MODULES) + code
    env = dict(os.environ, PYTHONPATH=os.pathsep.join([str(ROOT / "src"), str(ROOT)]))
    return subprocess.run(
        [sys.executable, "-c", script],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )


def test_core_dependencies_leave_the_service_to_the_server_extra() -> None:
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    core = " ".join(project["dependencies"]).lower()
    server = " ".join(project["optional-dependencies"]["server"]).lower()
    for name in ("fastapi", "uvicorn", "sqlalchemy", "alembic", "pydantic", "pyjwt"):
        assert name not in core and name in server, name
    assert any("server" in d for d in project["optional-dependencies"]["dev"])
    assert project["license"] == "Apache-2.0" and (ROOT / "LICENSE").exists()


def test_library_and_cli_run_without_the_server_extra(tmp_path: Path) -> None:
    done = _without_server(
        "import cqox\n"
        "df, _ = cqox.simulate.confounded_binary(n=800, seed=2)\n"
        "est = cqox.estimate('ipw', df, outcome='y', treatment='t', covariates=['x1', 'x2'])\n"
        "df.to_csv('data.csv', index=False)\n"
        "from cqox.cli.main import main\n"
        "status = main(['analyze', 'data.csv', '--outcome', 'y', '--treatment', 't',\n"
        "               '--estimators', 'ipw', '--json', 'out.json', '--quiet'])\n"
        "assert status == 0, status\n"
        "assert cqox.datasets.load('lalonde').shape == (445, 10)\n"
        "assert est.se > 0\n",
        tmp_path,
    )
    assert done.returncode == 0, done.stderr
    assert (tmp_path / "out.json").exists()


@pytest.mark.parametrize("argv", [["serve"], ["users", "list"]])
def test_service_commands_name_the_extra_when_it_is_missing(
    argv: list[str], tmp_path: Path
) -> None:
    done = _without_server(
        f"from cqox.cli.main import main\nraise SystemExit(main({argv!r}))\n", tmp_path
    )
    assert done.returncode == 2, done.stderr
    line = done.stderr.strip()
    assert "\n" not in line and "Traceback" not in line
    assert line.startswith(f"cqox: error: 'cqox {argv[0]}' needs")
    assert "pip install 'cqox[server]'" in line and "fastapi" in line


def test_help_still_lists_the_service_commands(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setattr(server_extra, "missing_server_modules", lambda: ["fastapi"])
    monkeypatch.setattr("cqox.cli.serve.missing_server_modules", lambda: ["fastapi"])
    assert main(["serve", "--help"]) == 0
    assert "pip install 'cqox[server]'" in capsys.readouterr().out
