"""A source's tables as found on disk or in a database, and their registration in DuckDB.

Each table becomes ``raw_<name>`` with its original row number ``__row`` (the file line for CSV).
"""
from __future__ import annotations

import csv
import re
from dataclasses import dataclass, field
from pathlib import Path

import duckdb

from analysis.data.engine import first_line, quote_literal
from analysis.errors import DataError


@dataclass
class TableFile:
    name: str
    kind: str  # csv | parquet | duckdb
    location: str  # file path, glob, or table name
    files: list[Path] = field(default_factory=list)


def _check_csv_header(t: TableFile) -> None:
    """Catch a wrong delimiter or encoding on the header before DuckDB guesses."""
    f = t.files[0]
    with open(f, "rb") as fh:
        head = fh.read(64 * 1024)
    if not head.strip():
        raise DataError(f"{t.name}: {f.name} is empty (expected a header line and at least one row).")
    first = head.splitlines()[0]
    try:
        first.decode("utf-8")
    except UnicodeDecodeError:
        raise DataError(f"{t.name}: {f.name} is not UTF-8 text (header line); save it as UTF-8.") from None
    header = first.decode("utf-8").lstrip("\ufeff")
    names = [n.strip().lower() for n in next(csv.reader([header]), [])]
    if "" in names:
        raise DataError(f"{t.name}: {f.name} has a column without a name (column {names.index('') + 1} of the "
                        "header); expected a name for every column.")
    twice = next((n for i, n in enumerate(names) if n in names[:i]), None)
    if twice is not None:
        raise DataError(f"{t.name}: {f.name} names the column {twice!r} twice (column names ignore case); "
                        "expected each column once.")
    if "," not in header:
        for delim, label in ((";", "semicolon"), ("\t", "tab"), ("|", "pipe")):
            if delim in header:
                raise DataError(
                    f"{t.name}: {f.name} is {label}-separated (header {header.strip()!r}); "
                    "expected comma-separated columns, e.g. customer_id,timestamp,amount."
                )


#: The longest CSV row read (DuckDB's default is 2 MB): a long free-text value is data, not a broken row.
MAX_LINE_BYTES = 16 * 2**20


def register(con: duckdb.DuckDBPyConnection, t: TableFile) -> None:
    """Create ``raw_<name>`` with an original row number ``__row`` (file line for CSV)."""
    raw = f"raw_{t.name}"
    if t.kind == "csv":
        _check_csv_header(t)
        # Every column as text so that validation, not the CSV sniffer, decides what is wrong.
        names = next(csv.reader([open(t.files[0], encoding="utf-8-sig", errors="replace").readline()]))
        cols = "{" + ", ".join(f"{quote_literal(n.strip())}: 'VARCHAR'" for n in names) + "}"
        reader = (f"read_csv({quote_literal(t.location)}, header=true, delim=',', quote='\"', escape='\"', "
                  f"columns={cols}, auto_detect=false, null_padding=false, strict_mode=true, "
                  f"max_line_size={MAX_LINE_BYTES}, buffer_size={2 * MAX_LINE_BYTES})")
        try:
            con.execute(f"CREATE TABLE {raw} AS SELECT row_number() OVER () + 1 AS __row, * FROM {reader}")
        except duckdb.Error as exc:
            full = str(exc)
            line = re.search(r"Line: (\d+)", full)
            at = f" (line {line.group(1)})" if line else ""
            if "unicode" in full.lower() or "utf-8" in full.lower():
                raise DataError(f"{t.name}: {t.files[0].name} is not UTF-8 text{at}; expected UTF-8, "
                                "e.g. save it from Excel as 'CSV UTF-8'.") from None
            detail = next((ln.strip() for ln in full.splitlines()[1:] if ln.strip()), first_line(exc))[:160]
            if detail.startswith("Original Line:"):  # DuckDB quotes the row: say how many fields, never what
                row = detail.split(":", 1)[1].strip()
                detail = f"the row has {len(next(csv.reader([row])))} fields, the header {len(names)}"
            elif "Original Line" in full or len(detail) > 80:  # any other quote of the row (names, notes) stays out
                detail = first_line(exc).split(":")[0][:60]
            raise DataError(f"{t.name}: {t.files[0].name} could not be read as CSV{at}: {detail}; "
                            "expected comma-separated rows with the header's number of columns "
                            "(quote values that contain commas).") from None
    elif t.kind == "parquet":
        try:
            # file_row_number is free; a row_number() window would force a full materialisation.
            con.execute(f"CREATE VIEW {raw} AS SELECT * EXCLUDE (file_row_number), file_row_number + 1 AS __row "
                        f"FROM read_parquet({quote_literal(t.location)}, file_row_number=true)")
        except duckdb.Error as exc:
            raise DataError(f"{t.name}: {t.location} could not be read as Parquet ({first_line(exc)}).") from None
    elif t.kind == "view":
        # A view has no row ids; DuckDB drops the window when a query does not use __row.
        con.execute(f"CREATE VIEW {raw} AS SELECT row_number() OVER () AS __row, * FROM {t.location}")
    else:
        con.execute(f"CREATE VIEW {raw} AS SELECT rowid + 1 AS __row, * FROM {t.location}")
