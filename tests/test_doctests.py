"""Every docstring example in ``src/analysis`` runs, from the repository root.

One test per module, so a failure names its module; examples that need data read the committed
sample as ``data/sample`` (relative to the repository root, where this runs them). The flags are
pytest's own doctest defaults, so ``pytest --doctest-modules src/analysis`` agrees.
"""
from __future__ import annotations

import doctest
import importlib
import pkgutil
from pathlib import Path

import pytest

import analysis

ROOT = Path(__file__).resolve().parents[1]


def _modules() -> list[str]:
    names = ["analysis"]
    for info in pkgutil.walk_packages(analysis.__path__, prefix="analysis."):
        if info.name != "analysis.__main__":
            names.append(info.name)
    return sorted(names)


@pytest.mark.parametrize("module_name", _modules())
def test_docstring_examples(module_name, monkeypatch):
    monkeypatch.chdir(ROOT)
    module = importlib.import_module(module_name)
    finder = doctest.DocTestFinder()
    runner = doctest.DocTestRunner(optionflags=doctest.ELLIPSIS)
    report: list[str] = []
    failed = sum(runner.run(test, out=report.append).failed for test in finder.find(module, module_name))
    assert failed == 0, "".join(report)
