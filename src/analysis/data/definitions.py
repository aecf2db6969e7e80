"""Source definitions in SQL: a ``.sql`` file of DuckDB views that maps any export onto the contract.

Runs only ``CREATE VIEW`` statements, finds the files they read, and suggests a definition for an export.
"""
from __future__ import annotations

import glob
import os
import re
from pathlib import Path

import duckdb

from analysis.data import privacy, sandbox
from analysis.data.contract import REQUIRED, TABLES
from analysis.data.engine import first_line, quote_ident, quote_literal
from analysis.data.tables import TableFile
from analysis.errors import DataError

_NAME = r'(?:"(?:[^"]|"")+"|[A-Za-z_][\w$]*)'
_CREATE_VIEW = re.compile(rf"CREATE\s+(?:OR\s+REPLACE\s+)?(?:TEMP(?:ORARY)?\s+)?VIEW\s+(?:IF\s+NOT\s+EXISTS\s+)?"
                          rf"({_NAME}(?:\s*\.\s*{_NAME}){{0,2}})(?=\s*(?:\(|AS\b))", re.I)
_SQL_CATALOG = "kanta_src"


def _without_leading_comments(sql: str) -> str:
    while True:
        sql = sql.lstrip()
        if sql.startswith("--"):
            sql = sql.split("\n", 1)[1] if "\n" in sql else ""
        elif sql.startswith("/*"):
            sql = sql.split("*/", 1)[1] if "*/" in sql else ""
        else:
            return sql


_COLUMNS_AS = re.compile(r'\s*(\((?:[^()"]|"(?:[^"]|"")*")*\))?\s*AS\b', re.I | re.S)


def sql_definition(path: Path, con: duckdb.DuckDBPyConnection, allow=()) -> dict[str, TableFile]:
    """Run a ``.sql`` source definition in the sandbox (:mod:`analysis.data.sandbox`): views only, files only.

    DuckDB's own parser splits the statements and names their kind, so nothing that writes, copies,
    attaches, installs, loads or sets anything runs; each view's table functions are checked against the
    sandbox's allow-list and its file names against the allowed folders (``allow`` and the definition's own,
    where relative paths resolve) before DuckDB is locked and the view is created as
    ``kanta_src.main.<name>`` (a TEMP view would otherwise shadow the validated views).
    """
    try:
        text = path.read_text(encoding="utf-8-sig")
    except UnicodeDecodeError:
        raise DataError(f"source: {path.name} is not UTF-8 text; save the source definition as UTF-8.") from None
    try:
        statements = con.extract_statements(text)
    except duckdb.Error as exc:
        raise DataError(f"source: {path.name} is not valid DuckDB SQL ({first_line(exc)}); expected "
                        "CREATE VIEW transactions AS SELECT ... statements.") from None
    folders = sandbox.allowed_folders(path, allow)
    where_name = f"source: {path.name}"
    views, at = [], 0
    for st in statements:
        sql = _without_leading_comments(st.query)
        where = text.find(sql[:40], at) if sql else -1
        at = where + 1 if where >= 0 else at
        line = text.count("\n", 0, where) + 1 if where >= 0 else "?"
        if not sql.rstrip(";").strip():
            continue
        m = _CREATE_VIEW.match(sql) if st.type == duckdb.StatementType.CREATE else None
        columns = _COLUMNS_AS.match(sql, m.end(1)) if m else None
        if m is None or columns is None:
            what = " ".join(sql.split()[:2]).rstrip(";")
            raise DataError(f"{where_name} line {line}: {what!r} is not allowed; a source definition only "
                            "defines views (CREATE VIEW transactions AS SELECT ...) and never writes, copies, "
                            "attaches, installs, loads or sets anything.")
        name = re.findall(_NAME, m.group(1))[-1]
        name = name[1:-1].replace('""', '"') if name.startswith('"') else name
        views.append((line, name, columns.group(1) or "", sql[columns.end():].rstrip().rstrip(";"),
                      (where if where >= 0 else 0) + columns.end()))
    checked = []
    for line, name, column_list, body, start in views:  # every statement is a view: now what each one reads

        def line_at(offset: int, start=start) -> int:
            return text.count("\n", 0, start + offset) + 1

        body = sandbox.checked_view(body, name, line_at, folders, where_name, con)
        checked.append((line, name, f"CREATE OR REPLACE VIEW {_SQL_CATALOG}.main.{quote_ident(name)}{column_list} "
                                    f"AS {body}"))
    views = checked
    if not views:
        raise DataError(f"{where_name} defines no views; expected CREATE VIEW transactions AS SELECT ... "
                        "(customer_id, timestamp, amount).")
    home = con.execute("SELECT current_database()").fetchone()[0]
    con.execute(f"ATTACH ':memory:' AS {_SQL_CATALOG}")
    con.execute(f"SET file_search_path = {quote_literal(str(folders[0]))}")
    sandbox.lock(con, folders)  # before any view runs: from here on nothing can change a setting or leave the folders
    con.execute(f"USE {_SQL_CATALOG}")
    try:
        for line, name, sql in views:
            try:
                con.execute(sql)
            except duckdb.PermissionException as exc:
                raise DataError(f"{where_name} line {line}: view {name} reads a file outside the folders a source "
                                f"definition may read ({first_line(exc)[:160]}); expected files in "
                                f"{', '.join(map(str, folders))}, or name the folder with --allow-path.") from None
            except duckdb.Error as exc:
                raise DataError(f"{where_name} line {line}: view {name} could not be defined "
                                f"({first_line(exc)}).") from None
    finally:
        con.execute(f"USE {quote_ident(home)}")
    defined = {r[0].lower(): r[0] for r in con.execute(
        f"SELECT table_name FROM information_schema.tables WHERE table_catalog = {quote_literal(_SQL_CATALOG)}"
    ).fetchall()}
    files = [path] + _referenced_files(text, path.parent)
    found = {name: TableFile(name, "view", f"{_SQL_CATALOG}.main.{quote_ident(defined[name])}", files)
             for name in TABLES if name in defined}
    if "transactions" not in found:
        raise DataError(f"transactions: {path.name} defines no view named transactions (defined: "
                        f"{', '.join(sorted(defined.values()))}); expected CREATE VIEW transactions AS SELECT ... "
                        "with customer_id, timestamp and amount.")
    return found


def is_sandboxed(tables: dict[str, TableFile]) -> bool:
    """Whether ``tables`` are the views of a ``.sql`` source definition (a sandboxed connection)."""
    return any(t.kind == "view" and t.location.startswith(f"{_SQL_CATALOG}.") for t in tables.values())


def _referenced_files(text: str, folder: Path) -> list[Path]:
    """Files named in a definition's string literals (paths and globs), for the source fingerprint."""
    out: set[Path] = set()
    text = re.sub(r"/\*.*?\*/", " ", re.sub(r"--[^\n]*", " ", text), flags=re.S)  # "Kanta's" in a comment
    for literal in re.findall(r"'((?:[^']|'')+)'", text):
        literal = literal.replace("''", "'")
        if len(literal) > 500 or "\n" in literal:
            continue
        p = Path(literal) if Path(literal).is_absolute() else folder / literal
        try:
            out.update(Path(f) for f in glob.glob(str(p), recursive=True) if os.path.isfile(f))
        except (OSError, ValueError):
            continue
    return sorted(out)


# Words in export headers that point at a contract column, for the suggested source definition.
_HINTS = {
    "customer_id": ("customer", "customerid", "cust", "asiakas", "asiakasnumero", "asiakasnro", "client", "member",
                    "jasen", "user", "account"),
    "timestamp": ("timestamp", "date", "time", "datetime", "pvm", "paivamaara", "aika", "created", "ordered"),
    "amount": ("amount", "total", "sum", "summa", "value", "arvo", "revenue", "sales", "myynti", "price", "hinta"),
    "signup_date": ("signup", "registered", "created", "joined", "liittymispaiva", "liittynyt", "since", "date", "pvm"),
    "experiment_id": ("experiment", "test", "campaign", "kampanja"),
    "variant": ("variant", "group", "arm", "ryhma", "treatment"),
    "assigned_at": ("assigned", "date", "time", "pvm"),
}


def _ident(name: str) -> str:
    return name if re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]*", name) else quote_ident(name)


def _guess_column(target: str, cols: list[str], taken: set[str]) -> str | None:
    words = _HINTS.get(target, ())
    for exact in (True, False):
        for c in cols:
            n = privacy.normalise_column_name(c)
            parts = n.split("_") + [n.replace("_", "")]
            hit = any(w in parts for w in words) if exact else any(w in n for w in words)
            if hit and c not in taken:
                return c
    return None


def definition_hint(name: str, t: TableFile, cols: list[str]) -> str:
    """A source definition that would map this export onto the contract, from the columns it has."""
    taken, select = set(), []
    norm = {privacy.normalise_column_name(c): c for c in cols}
    qty = next((c for n, c in norm.items() if n in ("quantity", "qty", "maara", "kpl", "lkm")), None)
    price = next((c for n, c in norm.items() if "price" in n or "hinta" in n), None)
    for target in REQUIRED[name]:
        if target in cols:
            select.append(target)
            continue
        if target == "amount" and qty and price:
            select.append(f"{_ident(qty)} * {_ident(price)} AS amount")
            taken |= {qty, price}
            continue
        guess = _guess_column(target, cols, taken)
        if guess is not None:
            taken.add(guess)
        select.append(f"{_ident(guess) if guess else '<column>'} AS {target}")
    what = t.files[0].name if len(t.files) == 1 else f"{name}/**/*.parquet"
    return (f"a source definition maps an export onto the contract, e.g. a file kanta.sql beside it with "
            f"CREATE VIEW {name} AS SELECT {', '.join(select)} FROM '{what}'; then run kanta validate kanta.sql")
