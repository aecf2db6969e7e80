"""Run one numerical job in a fresh interpreter while this process goes on: the month's state uses it to fit
models on the second core while it queries and tabulates on the first.

A fresh ``python -c`` (the parent's ``sys.path``), not multiprocessing: it never re-runs the caller's script (an
analyst's script without a ``__main__`` guard) and never forks a process whose other threads (DuckDB's, BLAS's)
hold locks. Arguments and the result go through a private temporary folder as pickles. The child runs the same
function on the same data, so the result is the one this process would compute. If the child cannot start or
dies, or raises anything but a :class:`~analysis.errors.KantaError`, the job runs here instead (so a bug shows
its own traceback).
"""
from __future__ import annotations

import importlib
import pickle
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any, Callable

from analysis.errors import KantaError

__all__ = ["start", "run_here"]


def run_here(func: Callable, *args) -> Callable[[], Any]:
    """``func(*args)`` now; returns the function :func:`start` returns (its result, or its exception re-raised)."""
    try:
        out, error = func(*args), None
    except KantaError as exc:
        out, error = None, exc

    def result():
        if error is not None:
            raise error
        return out

    return result


def start(func: Callable, *args) -> Callable[[], Any]:
    """Start ``func(*args)`` (a module-level function) in a child interpreter; returns ``wait()`` giving its result.

    ``wait()`` re-raises the child's :class:`~analysis.errors.KantaError` (a model that cannot be estimated is a
    finding, as when run here). Where no child can be started (no interpreter, no temporary folder) the job runs
    here at once.
    """
    try:
        folder = Path(tempfile.mkdtemp(prefix="kanta-job-"))
    except OSError:
        return run_here(func, *args)
    try:
        with open(folder / "job.pkl", "wb") as f:
            pickle.dump((func.__module__, func.__qualname__, args), f, protocol=pickle.HIGHEST_PROTOCOL)
        code = (f"import sys; sys.path[:0] = {[p for p in sys.path if p]!r}; "
                f"from analysis.detached import _child; _child({str(folder)!r})")
        with open(folder / "stderr.txt", "wb") as err:  # a file, not a pipe: a chatty child never waits for us
            proc = subprocess.Popen([sys.executable, "-c", code], stdin=subprocess.DEVNULL,
                                    stdout=subprocess.DEVNULL, stderr=err)
    except (OSError, pickle.PicklingError, AttributeError, TypeError):
        shutil.rmtree(folder, ignore_errors=True)
        return run_here(func, *args)

    def wait():
        try:
            proc.wait()
            kind, value = pickle.loads((folder / "out.pkl").read_bytes()) if proc.returncode == 0 else (None, None)
        except (OSError, EOFError, pickle.UnpicklingError, AttributeError, ImportError):
            kind, value = None, None
        finally:
            shutil.rmtree(folder, ignore_errors=True)
        if kind == "result":
            return value
        if kind == "raised":
            raise value
        return func(*args)  # the child died or failed unexpectedly: the job here, with its own traceback

    return wait


def _child(folder: str) -> None:
    """The child's side: run the pickled job and pickle back ``("result", value)`` or ``("raised", KantaError)``."""
    folder = Path(folder)
    with open(folder / "job.pkl", "rb") as f:
        module, name, args = pickle.load(f)
    func = importlib.import_module(module)
    for part in name.split("."):
        func = getattr(func, part)
    try:
        out = ("result", func(*args))
    except KantaError as exc:
        out = ("raised", exc)
    (folder / "out.part").write_bytes(pickle.dumps(out, protocol=pickle.HIGHEST_PROTOCOL))
    (folder / "out.part").rename(folder / "out.pkl")
