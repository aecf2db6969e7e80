"""Publishing into --out: nothing Kanta did not write is deleted, months swap in whole, runs wait for each other."""
from __future__ import annotations

import errno
import json
import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

from analysis.cli import main as kanta
from analysis.errors import ParameterError
from analysis.report import publishing, write_index
from analysis.report.monthly import _publish
from analysis.report.publishing import MARKER, PublishError, ReportFolder

SAMPLE = Path(__file__).resolve().parents[1] / "data" / "sample"


def _month(folder: Path, text: str = "old") -> Path:
    folder.mkdir(parents=True)
    (folder / "index.html").write_text(text, encoding="utf-8")
    (folder / "manifest.json").write_text("{}", encoding="utf-8")
    publishing.mark(folder)
    return folder


def _staged(tmp_path: Path, text: str = "new") -> tuple[Path, Path]:
    scratch = tmp_path / "scratch"
    staged = scratch / "2026-10"
    staged.mkdir(parents=True)
    (staged / "index.html").write_text(text, encoding="utf-8")
    return staged, scratch


# --- what Kanta did not write is refused, before any work -----------------------------------------
def test_out_folder_holding_other_files_is_refused_and_kept(tmp_path, capsys):
    out = tmp_path / "website"
    out.mkdir()
    (out / "index.html").write_text("<h1>our intranet</h1>", encoding="utf-8")
    (out / "2026-10").mkdir()
    (out / "2026-10" / "budget.xlsx").write_bytes(b"numbers")
    code = kanta(["report", "--period", "2026-10", "--data", str(SAMPLE), "--out", str(out), "--quiet"])
    err = capsys.readouterr().err.strip()
    assert code == 2 and len(err.splitlines()) == 1 and "Traceback" not in err
    assert "did not write" in err and "index.html" in err
    assert (out / "index.html").read_text(encoding="utf-8") == "<h1>our intranet</h1>"
    assert (out / "2026-10" / "budget.xlsx").read_bytes() == b"numbers"
    assert sorted(p.name for p in out.iterdir()) == ["2026-10", "index.html"], "no lock, marker or render folder"


def test_month_folder_holding_a_foreign_file_is_refused(tmp_path):
    out = tmp_path / "reports"
    _month(out / "2026-10")
    (out / MARKER).write_text("{}", encoding="utf-8")
    (out / "2026-10" / "my-notes.txt").write_text("mine", encoding="utf-8")
    with pytest.raises(ParameterError, match=r"2026-10 holds files Kanta did not write \('my-notes.txt'\)"):
        publishing.check_out(out, ["2026-10"])
    publishing.check_out(out, ["2026-09"])  # a month the run does not replace is left alone


def test_foreign_file_in_an_experiment_report_is_refused(tmp_path):
    out = tmp_path / "reports"
    out.mkdir()
    (out / MARKER).write_text("{}", encoding="utf-8")
    _month(out / "experiments" / "spring")
    (out / "experiments" / "spring" / "slides.pdf").write_bytes(b"%PDF")
    with pytest.raises(ParameterError, match="slides.pdf"):
        publishing.check_out(out, ["2026-10"])


def test_empty_folder_git_placeholder_and_reports_from_before_the_marker_are_kanta_s(tmp_path):
    empty = tmp_path / "empty"
    empty.mkdir()
    (empty / ".gitkeep").write_text("")
    publishing.check_out(empty, ["2026-10"])
    legacy = tmp_path / "legacy"
    (legacy / "2026-09").mkdir(parents=True)
    (legacy / "2026-09" / "manifest.json").write_text("{}", encoding="utf-8")
    (legacy / "index.html").write_text("<html></html>", encoding="utf-8")
    publishing.check_out(legacy, ["2026-09"])
    with ReportFolder(legacy, ["2026-09"]):
        pass
    assert (legacy / MARKER).is_file(), "adopted: marked from now on"


def test_index_of_a_folder_that_is_not_kanta_s_is_never_overwritten(tmp_path):
    (tmp_path / "index.html").write_text("<h1>home page</h1>", encoding="utf-8")
    (tmp_path / "photos").mkdir()
    with pytest.raises(ParameterError, match="did not write"):
        write_index(tmp_path)
    assert (tmp_path / "index.html").read_text(encoding="utf-8") == "<h1>home page</h1>"


def test_published_month_is_marked_with_the_files_kanta_wrote(tmp_path):
    staged, scratch = _staged(tmp_path)
    target = tmp_path / "reports" / "2026-10"
    _publish(staged, target, scratch)
    assert json.loads((target / MARKER).read_text(encoding="utf-8"))["files"] == ["index.html"]
    assert publishing.foreign_files(target) == []


# --- across file systems, read-only and full disks ---------------------------------------------------
def _cross_device(monkeypatch, scratch: Path):
    """os.replace that fails with EXDEV whenever a rename would cross between ``scratch`` and elsewhere."""
    real = os.replace

    def replace(src, dst):
        inside = [Path(p).resolve().is_relative_to(scratch.resolve()) for p in (src, dst)]
        if inside[0] != inside[1]:
            raise OSError(errno.EXDEV, "Invalid cross-device link")
        return real(src, dst)

    monkeypatch.setattr(os, "replace", replace)


def test_publishing_across_file_systems_copies_then_swaps(tmp_path, monkeypatch):
    target = _month(tmp_path / "reports" / "2026-10")
    staged, scratch = _staged(tmp_path)
    _cross_device(monkeypatch, scratch)
    _publish(staged, target, scratch)
    assert (target / "index.html").read_text(encoding="utf-8") == "new"
    assert publishing.foreign_files(target) == []
    assert not staged.exists()
    assert sorted(p.name for p in target.parent.iterdir()) == ["2026-10"], "no copy left beside the month"


def test_full_disk_while_swapping_keeps_the_published_month(tmp_path, monkeypatch):
    target = _month(tmp_path / "reports" / "2026-10")
    staged, scratch = _staged(tmp_path)
    real = os.replace

    def replace(src, dst):
        if Path(src) == staged:
            raise OSError(errno.ENOSPC, "No space left on device")
        return real(src, dst)

    monkeypatch.setattr(os, "replace", replace)
    with pytest.raises(OSError):
        _publish(staged, target, scratch)
    assert (target / "index.html").read_text(encoding="utf-8") == "old", "the old month was put back"


def test_read_only_report_folder_ends_in_one_sentence(tmp_path, monkeypatch):
    out = tmp_path / "reports"
    _month(out / "2026-09")
    (out / MARKER).write_text("{}", encoding="utf-8")
    before = {p: p.read_bytes() for p in out.rglob("*") if p.is_file()}
    if os.geteuid() == 0:  # root writes anywhere: say what a read-only mount says
        def mkdtemp(*args, **kwargs):
            raise OSError(errno.EROFS, "Read-only file system")

        monkeypatch.setattr(publishing.tempfile, "mkdtemp", mkdtemp)
    else:
        out.chmod(0o555)
    try:
        with pytest.raises(PublishError, match=r"^--out: could not write to .*; the months published before are unchanged\.$"):
            ReportFolder(out, ["2026-10"]).open()
    finally:
        out.chmod(0o755)
    assert {p: p.read_bytes() for p in before} == before


def test_full_disk_during_a_monthly_run_exits_2_with_the_months_intact(tmp_path, monkeypatch, capsys):
    out = tmp_path / "reports"
    _month(out / "2026-10", "published before")
    (out / MARKER).write_text("{}", encoding="utf-8")
    notebooks = tmp_path / "notebooks"
    notebooks.mkdir()
    import nbformat

    nb = nbformat.v4.new_notebook()
    nb.cells = [nbformat.v4.new_code_cell('source = "x"\nas_of = "2026-10-31"\nlanguage = "en"',
                                          metadata={"tags": ["parameters"]}),
                nbformat.v4.new_code_cell("x = 1")]
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    nbformat.write(nb, notebooks / "customer_base.ipynb")

    def full(folder):
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(publishing, "mark", full)
    code = kanta(["report", "--period", "2026-10", "--data", str(SAMPLE), "--out", str(out), "--quiet",
                  "--notebooks", str(notebooks)])
    err = capsys.readouterr().err.strip()
    assert code == 2 and len(err.splitlines()) == 1, err
    assert "the disk is full" in err and "unchanged" in err
    assert (out / "2026-10" / "index.html").read_text(encoding="utf-8") == "published before"
    assert not list(out.glob(".kanta-render-*"))


# --- one run at a time; nothing left behind by a killed run -------------------------------------------
def test_runs_on_the_same_report_folder_wait_for_each_other(tmp_path):
    out = tmp_path / "reports"
    events = []

    def run(name: str, delay: float):
        time.sleep(delay)
        with ReportFolder(out):
            events.append((name, "start"))
            time.sleep(0.4)
            events.append((name, "end"))

    threads = [threading.Thread(target=run, args=("first", 0)), threading.Thread(target=run, args=("second", 0.1))]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert events == [("first", "start"), ("first", "end"), ("second", "start"), ("second", "end")]


def test_render_folder_of_a_killed_run_is_removed_by_the_next_run(tmp_path):
    out = tmp_path / "reports"
    code = ("import sys, time; from analysis.report.publishing import ReportFolder\n"
            "f = ReportFolder(sys.argv[1]).open(); (f.scratch / 'customer_base.pkl').write_bytes(b'x')\n"
            "print(f.scratch, flush=True); time.sleep(60)")
    proc = subprocess.Popen([sys.executable, "-c", code, str(out)], stdout=subprocess.PIPE, text=True)
    left = Path(proc.stdout.readline().strip())
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()
    assert left.is_dir() and left.name.startswith(f".kanta-render-{proc.pid}-")
    alive = out / f".kanta-render-{os.getpid()}-x"  # this process is alive: its folder stays
    alive.mkdir()
    with ReportFolder(out):
        assert not left.exists() and alive.exists()
