"""Package exports loaded on first use (PEP 562): one mechanism for every folder's ``__init__``.

A folder lists each exported name with the module that defines it; importing the folder (or one submodule of
it) then imports nothing else, and a name's module is imported when the name is first read. A page kernel that
needs the churn rule does not pay for lifelines, papermill or the month's run.
"""
from __future__ import annotations

import importlib
import sys
import types


class _Package(types.ModuleType):
    """An exported name stays the exported object when a submodule of the same name is imported (as
    ``analysis.churn.kaplan_meier``, the function, beside the module of that name)."""

    def __setattr__(self, name, value):
        if name in self.__dict__.get("_HOMES", ()) and isinstance(value, types.ModuleType):
            return  # the submodule stays reachable in sys.modules
        super().__setattr__(name, value)


def lazy_exports(package: str, homes: dict[str, str]):
    """``(__getattr__, __dir__)`` for the package ``package`` whose names live in ``homes`` (name -> module).

    Example
    -------
    >>> import analysis.churn
    >>> analysis.churn.define_churn.__module__
    'analysis.churn.rule'
    """
    module = sys.modules[package]
    module.__class__ = _Package

    def __getattr__(name: str):
        home = homes.get(name)
        if home is None:
            raise AttributeError(f"module {package!r} has no attribute {name!r}")
        value = getattr(importlib.import_module(home), name)
        module.__dict__[name] = value
        return value

    def __dir__() -> list[str]:
        return sorted(set(module.__dict__) | set(homes))

    return __getattr__, __dir__
