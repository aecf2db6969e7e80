"""Publishing into the report folder without harming what Kanta did not write.

Kanta marks every folder it publishes (a ``.kanta-report`` file listing what it wrote), refuses a
report folder or month folder holding anything else, serialises runs on one folder with a lock,
swaps months in whole (across file systems too) and cleans render folders left by killed runs.
"""
from __future__ import annotations

import errno
import fcntl
import json
import os
import re
import shutil
import sys
import tempfile
from pathlib import Path
from typing import Iterable

from analysis.errors import KantaError, ParameterError

#: In every folder Kanta writes: the report folder itself, each month and each experiment report.
MARKER = ".kanta-report"
LOCK = ".kanta-lock"
RENDER_PREFIX = ".kanta-render-"
_MONTH = re.compile(r"^\d{4}-\d{2}$")
#: Report-folder entries Kanta writes (``.gitkeep`` keeps an empty ``reports/`` in git).
_OWN = {MARKER, LOCK, "index.html", "experiments", ".gitkeep"}
#: errno values that mean "the report folder cannot be written", not a bug.
WRITE_ERRORS = {errno.EROFS, errno.EACCES, errno.EPERM, errno.ENOSPC, errno.EDQUOT, errno.EFBIG}


class PublishError(KantaError):
    """The report folder cannot be written (read-only, full, no permission): exit 2, months unchanged."""


def _names(paths: Iterable[str]) -> str:
    shown = sorted(paths)
    more = f" and {len(shown) - 3} more" if len(shown) > 3 else ""
    return ", ".join(repr(p) for p in shown[:3]) + more


def written_files(folder: Path) -> list[str] | None:
    """The files Kanta listed in ``folder``'s marker; None when the folder has no readable marker."""
    try:
        listed = json.loads((folder / MARKER).read_text(encoding="utf-8")).get("files")
    except (OSError, ValueError, AttributeError):
        return None
    return list(listed) if isinstance(listed, list) else None


def _files(folder: Path) -> list[str]:
    return sorted(str(p.relative_to(folder)) for p in folder.rglob("*") if not p.is_dir() and p.name != MARKER)


def foreign_files(folder: Path) -> list[str]:
    """Files in a month or experiment folder that Kanta did not write (empty list: Kanta's own).

    A folder from before the markers counts as Kanta's when it holds Kanta's ``manifest.json``.
    """
    if not folder.is_dir():
        return [folder.name] if folder.exists() else []
    listed = written_files(folder)
    if listed is None:
        return [] if (folder / "manifest.json").is_file() else _files(folder) or ["(an empty folder)"]
    return [f for f in _files(folder) if f not in set(listed)]


def _out_is_kanta(out: Path) -> bool:
    """Whether the report folder is Kanta's: marked, empty, or (before the markers) only months and an index."""
    if (out / MARKER).is_file():
        return True
    entries = [p for p in out.iterdir() if p.name not in (LOCK, ".gitkeep") and not p.name.startswith(RENDER_PREFIX)]
    months = [p for p in entries if p.is_dir() and _MONTH.match(p.name)]
    others = [p for p in entries if p not in months and p.name not in _OWN]
    return not entries or (not others and any((m / "manifest.json").is_file() for m in months))


def check_out(out, targets: Iterable[str] = ()) -> None:
    """Refuse, before any work, a report folder that is not Kanta's or a target folder holding foreign files.

    ``targets`` are folders relative to ``out`` that the run will replace (``2026-10``,
    ``experiments/<ID>``); every existing experiment report is checked too.
    """
    out = Path(out)
    if not out.exists():
        return
    if not out.is_dir():
        raise ParameterError(f"--out: {out} is a file; expected the report folder (e.g. reports).")
    if not _out_is_kanta(out):
        found = [p.name for p in out.iterdir() if p.name != ".gitkeep"]
        raise ParameterError(f"--out: {out} holds files Kanta did not write ({_names(found)}); expected an empty "
                             "folder or a report folder made by Kanta, so choose another --out.")
    experiments = out / "experiments"
    folders = [out / t for t in targets]
    folders += [p for p in experiments.iterdir() if not p.name.startswith(RENDER_PREFIX)] if experiments.is_dir() else []
    for folder in dict.fromkeys(folders):
        foreign = foreign_files(folder)
        if foreign:
            raise ParameterError(f"--out: {folder} holds files Kanta did not write ({_names(foreign)}); Kanta "
                                 "replaces that folder, so move them away or choose another --out.")


def mark(folder: Path) -> None:
    """Write the marker listing every file now in ``folder`` (called on the staged folder before the swap)."""
    text = json.dumps({"written_by": "kanta", "files": _files(folder)}, indent=1) + "\n"
    (folder / MARKER).write_text(text, encoding="utf-8")


def publish(staged: Path, target: Path, scratch: Path) -> None:
    """Swap ``staged`` into ``target``: readers see the old folder or the new one, never half.

    When ``scratch`` is on another file system than ``target`` (a rename fails with EXDEV) the
    folder is first copied beside the target and swapped there. If the swap fails, the
    published folder is put back.
    """
    mark(staged)
    target.parent.mkdir(parents=True, exist_ok=True)
    try:
        _swap(staged, target, scratch)
    except OSError as exc:
        if exc.errno != errno.EXDEV:
            raise
        near = Path(tempfile.mkdtemp(prefix=f"{RENDER_PREFIX}{os.getpid()}-", dir=target.parent))
        try:
            shutil.copytree(staged, near / target.name)
            _swap(near / target.name, target, near)
        finally:
            shutil.rmtree(near, ignore_errors=True)
        shutil.rmtree(staged, ignore_errors=True)


def _swap(staged: Path, target: Path, scratch: Path) -> None:
    old = None
    if target.exists():
        old = Path(tempfile.mkdtemp(prefix="previous-", dir=scratch))
        old.rmdir()
        os.replace(target, old)
    try:
        os.replace(staged, target)
    except OSError:
        if old is not None:
            os.replace(old, target)  # the published folder goes back where it was
        raise
    if old is not None:
        shutil.rmtree(old, ignore_errors=True)


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # someone else's live process
        return True
    return True


def clean_stale(out: Path) -> list[Path]:
    """Remove render folders of runs that are gone (killed with ``kill -9``, power cut); return them."""
    removed = []
    for parent in (out, out / "experiments"):
        if not parent.is_dir():
            continue
        for p in parent.glob(f"{RENDER_PREFIX}*"):
            pid = p.name[len(RENDER_PREFIX):].split("-", 1)[0]
            if p.is_dir() and (not pid.isdigit() or (int(pid) != os.getpid() and not _alive(int(pid)))):
                shutil.rmtree(p, ignore_errors=True)
                removed.append(p)
    return removed


def write_error(out: Path, exc: OSError) -> PublishError:
    """One sentence for a report folder that cannot be written."""
    reason = {errno.ENOSPC: "the disk is full", errno.EDQUOT: "the disk quota is used up",
              errno.EROFS: "the file system is read-only"}.get(exc.errno, exc.strerror or type(exc).__name__)
    return PublishError(f"--out: could not write to {out} ({reason}); the months published before are unchanged.")


class ReportFolder:
    """The report folder during one run: locked, checked, with a private render folder inside it.

    Runs on the same folder wait for each other (``flock`` on ``.kanta-lock``); render folders
    left by killed runs are removed when the lock is taken.

    Example
    -------
    >>> import tempfile, pathlib
    >>> with ReportFolder(pathlib.Path(tempfile.mkdtemp()) / "reports") as folder:
    ...     folder.scratch.name.startswith(".kanta-render-")
    True
    """

    def __init__(self, out, targets: Iterable[str] = (), quiet: bool = True):
        self.out = Path(out)
        self.targets = list(targets)
        self.quiet = quiet
        self.scratch: Path | None = None
        self._lock = None

    def open(self) -> "ReportFolder":
        check_out(self.out, self.targets)
        try:
            self.out.mkdir(parents=True, exist_ok=True)
            self._lock = open(self.out / LOCK, "a")
            try:
                fcntl.flock(self._lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                if not self.quiet:
                    print(f"kanta: waiting for another run that writes to {self.out} ...", file=sys.stderr)
                fcntl.flock(self._lock, fcntl.LOCK_EX)
            check_out(self.out, self.targets)  # again: the run we waited for may have changed it
            if not (self.out / MARKER).is_file():
                (self.out / MARKER).write_text(json.dumps({"written_by": "kanta", "files": ["index.html"]}) + "\n",
                                               encoding="utf-8")
            clean_stale(self.out)
            self.scratch = Path(tempfile.mkdtemp(prefix=f"{RENDER_PREFIX}{os.getpid()}-", dir=self.out))
        except OSError as exc:
            self.close()
            if exc.errno in WRITE_ERRORS:
                raise write_error(self.out, exc) from None
            raise
        except BaseException:
            self.close()
            raise
        return self

    def close(self) -> None:
        if self.scratch is not None:
            shutil.rmtree(self.scratch, ignore_errors=True)
            self.scratch = None
        if self._lock is not None:
            self._lock.close()  # releases the flock
            self._lock = None

    def __enter__(self) -> "ReportFolder":
        return self.open()

    def __exit__(self, exc_type, exc, tb) -> None:
        self.close()
        if isinstance(exc, OSError) and exc.errno in WRITE_ERRORS:
            raise write_error(self.out, exc) from None
