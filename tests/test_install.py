"""Kanta installs like a library: a non-editable install renders the report from any folder.

The package is built (without build isolation, from the sources copied out of the checkout so
no ``build/`` or ``*.egg-info`` lands in it) and installed into a temporary folder, which is the
only place ``analysis`` can come from (PYTHONPATH); the report is rendered from an empty folder.
The notebooks, strings and templates must come out of the installed package, and no page may
show where it was installed.
"""
from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
SAMPLE = ROOT / "data" / "sample"

pytestmark = pytest.mark.slow


def _run(args, cwd: Path, env: dict, timeout: int = 300) -> subprocess.CompletedProcess:
    return subprocess.run([str(a) for a in args], cwd=cwd, env=env, capture_output=True, text=True, timeout=timeout)


@pytest.fixture(scope="module")
def installed(tmp_path_factory) -> Path:
    """The package installed non-editable into a folder of its own."""
    base = tmp_path_factory.mktemp("install")
    sources = base / "sources"
    sources.mkdir()
    for name in ("pyproject.toml", "README.md"):
        shutil.copy2(ROOT / name, sources / name)
    shutil.copytree(ROOT / "src", sources / "src",
                    ignore=shutil.ignore_patterns("__pycache__", "*.egg-info", ".ipynb_checkpoints"))
    target = base / "site"
    proc = _run([sys.executable, "-m", "pip", "install", "--quiet", "--no-deps", "--no-build-isolation",
                 "--no-index", "--target", target, sources], cwd=base, env=dict(os.environ))
    assert proc.returncode == 0, proc.stderr[-3000:]
    return target


def _env(site: Path) -> dict:
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "KANTA_PSEUDONYM_KEY")}
    env.update(PYTHONPATH=str(site), MPLBACKEND="Agg", PYTHONDONTWRITEBYTECODE="1")
    return env


def test_installed_package_ships_its_files(installed, tmp_path):
    code = ("import analysis, json\n"
            "from analysis.report.notebooks import notebooks_dir, available_notebooks\n"
            "print(json.dumps({'file': analysis.__file__, 'notebooks': str(notebooks_dir()),\n"
            "                  'names': [s.name for s in available_notebooks()]}))\n")
    proc = _run([sys.executable, "-c", code], cwd=tmp_path, env=_env(installed))
    assert proc.returncode == 0, proc.stderr[-3000:]
    import json

    found = json.loads(proc.stdout)
    assert Path(found["file"]).resolve().is_relative_to(installed.resolve())  # not the checkout's src/
    assert Path(found["notebooks"]).resolve().is_relative_to(installed.resolve())
    assert {"customer_base", "clv", "churn", "segments"} <= set(found["names"])
    package = installed / "analysis"
    assert list((package / "strings").glob("*.json")) and any((package / "templates").iterdir())
    assert (package / "notebooks" / "experiment.ipynb").is_file()


def test_installed_package_renders_the_report_from_an_empty_folder(installed, tmp_path):
    work = tmp_path / "empty"
    work.mkdir()
    proc = _run([sys.executable, "-m", "analysis", "report", "--period", "2026-10", "--data", SAMPLE,
                 "--out", "reports", "--lang", "en", "--quiet"], cwd=work, env=_env(installed), timeout=600)
    assert proc.returncode in (0, 3), proc.stderr[-3000:]  # 3: a page degraded, the month still published
    month = work / "reports" / "2026-10"
    assert (month / "index.html").is_file()
    for page in month.rglob("*.html"):
        text = page.read_text(encoding="utf-8")
        for path in {str(installed), str(installed.resolve()), str(work), str(work.resolve())}:
            assert path not in text, f"{page.name} shows the machine path {path}"


def test_report_defaults_follow_the_working_folder(tmp_path, monkeypatch):
    from analysis.report import run

    monkeypatch.chdir(tmp_path)  # outside any git checkout
    assert run.default_data_path() == tmp_path.resolve() / "data" / "demo"
    assert run.display_path(tmp_path / "data" / "sample") == str(Path("data") / "sample")
    assert run.display_path(ROOT / "data" / "sample") == str(ROOT.resolve() / "data" / "sample")
    assert run.git_commit() == "unknown"
    if (ROOT / ".git").exists():
        monkeypatch.chdir(ROOT)
        assert len(run.git_commit()) == 40
