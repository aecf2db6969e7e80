"""The house rules the folders keep: data flows one way through the layers, no module grows into two jobs.

The layer order is the README's ("The package, layer by layer"); this test reads every module's imports
(top-level and function-local) with :mod:`ast`, so a new upward import or a cycle fails here, not in review.
"""
from __future__ import annotations

import ast
import tomllib
from collections import defaultdict
from pathlib import Path

import analysis

PACKAGE = Path(analysis.__file__).parent
ROOT = PACKAGE.parent.parent

#: Bottom to top; a module may import its own rank or lower. The package's ``__init__``/``__main__`` sit on top.
LAYERS = [
    {"errors", "units", "findings", "lazy", "detached"},
    {"data"},
    {"customers"},
    {"stats"},
    {"clv", "segments", "churn"},
    {"experiments", "contacts"},
    {"base"},
    {"report"},
    {"cli"},
]
RANK = {folder: rank for rank, folders in enumerate(LAYERS) for folder in folders}
MAX_LINES = 600


def _modules() -> dict[str, Path]:
    return {".".join(p.relative_to(PACKAGE.parent).with_suffix("").parts).removesuffix(".__init__"): p
            for p in PACKAGE.rglob("*.py")}


def _folder(module: str) -> str:
    parts = module.split(".")
    return parts[1] if len(parts) > 1 else "__top__"


def _rank(module: str) -> int:
    if module == "analysis":
        return 0  # the package's __init__: its version and the error types, nothing else
    folder = _folder(module)
    return RANK.get(folder, len(LAYERS)) if folder != "__main__" else len(LAYERS)


def _imports(path: Path) -> list[tuple[str, int, bool]]:
    """(imported analysis module, line, function-local) for every import of the package in a file."""
    tree = ast.parse(path.read_text(encoding="utf-8"))
    local_lines = {n.lineno for f in ast.walk(tree) if isinstance(f, (ast.FunctionDef, ast.AsyncFunctionDef))
                   for n in ast.walk(f) if isinstance(n, (ast.Import, ast.ImportFrom))}
    found = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names = [a.name for a in node.names]
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names = [node.module] + [f"{node.module}.{a.name}" for a in node.names]
        else:
            continue
        for name in names:
            if name == "analysis" or name.startswith("analysis."):
                found.append((name, node.lineno, node.lineno in local_lines))
    return found


def _edges():
    modules = _modules()
    for module, path in modules.items():
        for target, line, local in _imports(path):
            if target not in modules:
                target = target.rsplit(".", 1)[0]  # `from analysis.x import name`: the module is analysis.x
            if target in modules:
                yield module, path, target, line, local


def test_every_folder_is_a_known_layer():
    folders = {p.name for p in PACKAGE.iterdir() if p.is_dir() and (p / "__init__.py").exists()}
    roots = {p.stem for p in PACKAGE.glob("*.py")} - {"__init__", "__main__"}
    assert folders | roots <= set(RANK), f"not in a layer: {sorted((folders | roots) - set(RANK))}"


def test_no_module_imports_a_layer_above_its_own():
    upward = [f"{m} (line {line}) imports {t}" for m, _, t, line, _ in _edges()
              if _rank(t) > _rank(m)]
    assert not upward, "upward imports:\n" + "\n".join(upward)


def test_no_cycle_between_folders():
    graph = defaultdict(set)
    for m, _, t, _, _ in _edges():
        a, b = _folder(m), _folder(t)
        if a != b and "__top__" not in (a, b):
            graph[a].add(b)
    seen, stack, cycles = set(), [], []

    def visit(node):
        if node in stack:
            cycles.append(stack[stack.index(node):] + [node])
            return
        if node in seen:
            return
        seen.add(node)
        stack.append(node)
        for nxt in sorted(graph[node]):
            visit(nxt)
        stack.pop()

    for node in sorted(graph):
        visit(node)
    assert not cycles, f"import cycles between folders: {cycles}"


def test_no_module_over_600_lines():
    long = {m: n for m, p in _modules().items() if (n := len(p.read_text(encoding="utf-8").splitlines())) > MAX_LINES}
    assert not long, f"modules over {MAX_LINES} lines (two jobs in one file?): {long}"


def test_function_local_imports_only_in_the_cli_or_with_a_reason():
    """The CLI imports inside handlers for start-up time; anywhere else a local import says why (``# local:``)."""
    bare = []
    for module, path in _modules().items():
        if _folder(module) == "cli":
            continue
        text = path.read_text(encoding="utf-8")
        lines = text.splitlines()
        tree = ast.parse(text)
        for f in ast.walk(tree):
            if isinstance(f, (ast.FunctionDef, ast.AsyncFunctionDef)):
                for n in ast.walk(f):
                    if isinstance(n, (ast.Import, ast.ImportFrom)) and "# local:" not in lines[n.lineno - 1]:
                        bare.append(f"{module}:{n.lineno}")
    assert not bare, "function-local imports without a '# local:' reason:\n" + "\n".join(sorted(set(bare)))


def test_package_version_is_the_project_version():
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    assert analysis.__version__ == project["version"]
