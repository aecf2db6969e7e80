"""The sandbox a ``.sql`` source definition runs in, made of DuckDB's own controls.

Each view may read CSV, Parquet and JSON files in the definition's folder and in the folders the operator
names (``--allow-path``, :data:`ALLOWED_PATHS_VARIABLE`) and nothing else: its table functions are checked
against an allow-list before it runs, every file name must be a literal inside those folders (symlinks and
``..`` resolved), and DuckDB itself is then locked (``enable_external_access = false`` with
``allowed_directories``, ``lock_configuration``) so nothing a view calls can write a file or change a setting.
Each query of the load has a time budget (:data:`TIME_LIMIT_VARIABLE`) and the connection's memory limit.
"""
from __future__ import annotations

import glob
import json
import os
import re
from pathlib import Path

import duckdb

from analysis.data.engine import quote_literal
from analysis.errors import DataError, ParameterError

#: Folders a ``.sql`` definition may read besides its own, separated by the system's path separator (``:``).
ALLOWED_PATHS_VARIABLE = "KANTA_ALLOWED_PATHS"
#: Seconds each query of a ``.sql`` source's load may take (default :data:`DEFAULT_TIME_LIMIT_S`).
TIME_LIMIT_VARIABLE = "KANTA_SQL_TIME_LIMIT"
DEFAULT_TIME_LIMIT_S = 900

#: Table functions a view may call: file readers and row generators; anything else is refused by name.
FILE_READERS = ("read_csv", "read_csv_auto", "read_parquet", "parquet_scan", "read_json", "read_json_auto",
                "read_ndjson", "read_ndjson_auto", "read_json_objects", "read_ndjson_objects")
TABLE_FUNCTIONS = (*FILE_READERS, "range", "generate_series", "unnest")
#: Scalar functions that read the process's state rather than the data.
REFUSED_FUNCTIONS = ("getenv", "current_setting", "getvariable")
#: Settings Kanta itself changes after the lock (the views cannot: they are only CREATE VIEW statements).
UNLOCKED_SETTINGS = ("timezone", "preserve_insertion_order", "max_execution_time", "enable_progress_bar")

_GLOB = re.compile(r"[*?\[{]")


def allowed_folders(definition: Path, extra=()) -> list[Path]:
    """The definition's folder and the operator's folders (``extra`` and :data:`ALLOWED_PATHS_VARIABLE`), resolved."""
    named = [*extra, *[p for p in os.environ.get(ALLOWED_PATHS_VARIABLE, "").split(os.pathsep) if p.strip()]]
    out = [definition.parent.resolve()]
    for p in named:
        folder = Path(p).expanduser()
        if not folder.is_dir():
            raise ParameterError(f"{ALLOWED_PATHS_VARIABLE} / --allow-path: {p!r} is not a folder; expected folders a "
                                 "source definition may read, separated by " + repr(os.pathsep) + ".")
        out.append(folder.resolve())
    return list(dict.fromkeys(out))


def time_limit_s() -> float:
    raw = os.environ.get(TIME_LIMIT_VARIABLE, "").strip()
    if not raw:
        return DEFAULT_TIME_LIMIT_S
    try:
        value = float(raw)
    except ValueError:
        value = -1
    if not value > 0:
        raise ParameterError(f"{TIME_LIMIT_VARIABLE}: got {raw!r}, expected seconds > 0 (default "
                             f"{DEFAULT_TIME_LIMIT_S}).")
    return value


def lock(con: duckdb.DuckDBPyConnection, folders: list[Path]) -> None:
    """Close the connection to everything but ``folders`` and lock its configuration (before any view runs)."""
    dirs = "[" + ", ".join(quote_literal(str(f).rstrip(os.sep) + os.sep) for f in folders) + "]"
    con.execute(f"SET allowed_directories = {dirs}")
    con.execute("SET autoinstall_known_extensions = false")
    con.execute("SET autoload_known_extensions = false")
    con.execute(f"SET max_execution_time = {int(time_limit_s() * 1000)}")
    con.execute("SET enable_external_access = false")
    con.execute("SET allowed_configs = [" + ", ".join(map(quote_literal, UNLOCKED_SETTINGS)) + "]")
    con.execute("SET lock_configuration = true")


def end_of_load(con: duckdb.DuckDBPyConnection) -> None:
    """The time budget is for the load; the month's own queries on a big log may take longer."""
    con.execute("SET max_execution_time = 0")


def _nodes(tree, kinds: tuple[str, ...]):
    if isinstance(tree, dict):
        if tree.get("type") in kinds or tree.get("class") in kinds:
            yield tree
        for v in tree.values():
            yield from _nodes(v, kinds)
    elif isinstance(tree, list):
        for v in tree:
            yield from _nodes(v, kinds)


def checked_view(body: str, name: str, line_at, folders: list[Path], where: str,
                 con: duckdb.DuckDBPyConnection) -> str:
    """The view's query with every file name made absolute, or a DataError naming the line and the function.

    ``body`` is the SELECT after ``AS``; ``line_at(offset)`` is the definition's line of an offset into it.
    """
    tree = json.loads(con.execute("SELECT json_serialize_sql(?)", [body]).fetchone()[0])
    if tree.get("error"):
        raise DataError(f"{where} line {line_at(0)}: view {name} could not be checked "
                        f"({tree.get('error_message', 'not a SELECT')[:160]}); expected CREATE VIEW {name} AS "
                        "SELECT ...")
    raw = body.encode("utf-8")  # DuckDB's query locations count bytes

    def line(at: int) -> int:
        return line_at(len(raw[:min(at, len(raw))].decode("utf-8", errors="ignore")))

    files = []  # (byte offset of the literal, its text, function)
    for node in _nodes(tree, ("TABLE_FUNCTION", "BASE_TABLE", "FUNCTION")):
        at = node.get("query_location", 0)
        at = 0 if at > len(raw) else at
        if node.get("type") == "BASE_TABLE":
            table = node.get("table_name", "")
            if not node.get("schema_name") and not node.get("catalog_name") and re.search(r"[./\\*~]", table):
                files.append((at, table, "FROM"))
            continue
        if node.get("type") == "TABLE_FUNCTION":
            fn = node["function"]
            fname = fn["function_name"].lower()
            if fname not in TABLE_FUNCTIONS:
                raise DataError(f"{where} line {line(at)}: view {name} calls table function {fname}, which a "
                                f"source definition may not use; allowed are {', '.join(TABLE_FUNCTIONS)}.")
            if fname in FILE_READERS:
                args = [a["expression"] for a in fn.get("arguments", []) if not a.get("name")]
                first = args[0] if args else {}
                items = first.get("arguments", []) if first.get("function_name") == "list_value" else [
                    {"expression": first}]
                for item in items:
                    e = item["expression"]
                    lit = e.get("literal") or {}
                    if e.get("class") != "CONSTANT" or lit.get("kind") != "STRING":
                        raise DataError(f"{where} line {line(at)}: view {name} calls {fname} with a file name "
                                        "that is not a plain string literal; expected e.g. "
                                        f"{fname}('transactions.csv').")
                    files.append((e.get("query_location", at), lit["text"], fname))
            continue
        if node.get("class") == "FUNCTION" and node.get("function_name", "").lower() in REFUSED_FUNCTIONS:
            raise DataError(f"{where} line {line(at)}: view {name} calls {node['function_name'].lower()}, "
                            "which reads the process's state, not the data; a source definition may not use it.")
    literal = re.compile(rb"'(?:[^']|'')*'")
    for at, text, fname in sorted(set(files), key=lambda f: -f[0]):
        absolute = _inside(text, folders, f"{where} line {line(at)}: view {name} ({fname})")
        m = literal.match(raw, at)
        if m is None or m.group(0)[1:-1].decode("utf-8").replace("''", "'") != text:
            raise DataError(f"{where} line {line(at)}: view {name} names a file in a way that cannot be checked; "
                            f"expected a plain string literal like '{text}'.")
        raw = raw[:at] + quote_literal(absolute).encode("utf-8") + raw[m.end():]
    return raw.decode("utf-8")


def _inside(text: str, folders: list[Path], what: str) -> str:
    """``text`` as an absolute path when it and every file it matches lie in ``folders``, else a DataError."""
    if re.match(r"^[a-z][a-z0-9+.-]*://", text, re.I):
        raise DataError(f"{what} reads {text!r}, a remote location; a source definition reads local files only.")
    home = folders[0]
    raw = Path(os.path.expanduser(text)) if text.startswith("~") else Path(text)
    path = raw if raw.is_absolute() else home / raw
    fixed = _GLOB.split(str(path), maxsplit=1)[0]
    lead = Path(os.path.realpath(fixed if not _GLOB.search(str(path)) else os.path.dirname(fixed) or "/"))
    hits = [Path(os.path.realpath(f)) for f in glob.glob(str(path), recursive=True)] if _GLOB.search(str(path)) else []
    for p in [lead, *hits]:
        if not any(p == f or f in p.parents for f in folders):
            shown = ", ".join(str(f) for f in folders)
            raise DataError(f"{what} reads {text!r}, which is outside the folders a source definition may read "
                            f"({shown}); expected a file there, or name its folder with --allow-path or "
                            f"{ALLOWED_PATHS_VARIABLE}.")
    if not _GLOB.search(str(path)):
        return str(lead)
    return str(Path(os.path.realpath(os.path.dirname(fixed) or "/")) / str(path)[len(os.path.dirname(fixed)):].lstrip(os.sep))


def budget_error(con: duckdb.DuckDBPyConnection, where: str, views: list[tuple[str, str]], exc: Exception,
                 memory_limit: str) -> DataError:
    """The load ran out of time or memory: find the view that does (each counted alone) and name it."""
    culprit = None
    for name, qualified in views:
        try:
            con.execute(f"SELECT count(*), max(hash(COLUMNS(*))) FROM {qualified}").fetchone()  # every column read
        except (duckdb.InterruptException, duckdb.OutOfMemoryException):
            culprit = name
            break
        except duckdb.Error:
            continue
    what = (f"did not finish within the time budget of {time_limit_s():g} s per query "
            f"({TIME_LIMIT_VARIABLE})" if isinstance(exc, duckdb.InterruptException) else
            f"needs more than the memory limit {memory_limit} (--memory-limit)")
    return DataError(f"{where}: view {culprit or 'of the source'} {what}; expected a view that reads its files "
                     "without an endless recursion or an exploding join.")
