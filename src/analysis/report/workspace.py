"""A working copy of the report notebooks for an analyst: JupyterLab edits the copy, never the installed ones.

``kanta notebooks DIR`` copies the package's notebooks into ``DIR`` with outputs cleared and each
parameters cell's ``source`` pointing at a data source that exists from there (relative when it can be).
"""
from __future__ import annotations

import json
import os
import re
from pathlib import Path

from analysis.data import is_database_url
from analysis.errors import ParameterError
from analysis.report.notebooks import notebooks_dir

#: The parameters cell's source line, typed (``source: str = "..."``) or not, with its help comment.
_SOURCE_LINE = re.compile(r'^source(?P<annotation>\s*:\s*str)?\s*=\s*"[^"\n]*"(?P<comment>[ \t]*#.*)?$', re.M)


def _source_literal(data: str | Path, folder: Path) -> str:
    """How the copied notebooks name the source: relative to their folder when on the same drive."""
    if is_database_url(data):
        return json.dumps(str(data))
    data = Path(data).resolve()
    try:
        return json.dumps(Path(os.path.relpath(data, folder.resolve())).as_posix())
    except ValueError:  # another drive (Windows): only an absolute path reaches it
        return json.dumps(data.as_posix())


def copy_notebooks(folder: str | Path, data: str | Path) -> list[Path]:
    """Copy every report notebook into ``folder`` (created; existing notebooks there are never overwritten).

    Parameters
    ----------
    folder : path
        The analyst's working folder.
    data : path or database URL
        The source the copies read by default (their ``source`` parameter).

    Returns
    -------
    list of Path
        The copied notebooks.
    """
    folder = Path(folder)
    if folder.exists() and not folder.is_dir():
        raise ParameterError(f"notebooks: {folder} is a file; expected a folder for the notebooks.")
    sources = sorted(notebooks_dir().glob("*.ipynb"))
    clash = [p.name for p in sources if (folder / p.name).exists()]
    if clash:
        raise ParameterError(f"notebooks: {folder} already holds {', '.join(clash)}; choose an empty folder "
                             f"(an analyst's edits are never overwritten).")
    folder.mkdir(parents=True, exist_ok=True)
    literal = _source_literal(data, folder)
    written = []
    for path in sources:
        nb = json.loads(path.read_text(encoding="utf-8"))
        for cell in nb.get("cells", []):
            if cell.get("cell_type") == "code":
                cell["outputs"], cell["execution_count"] = [], None
                cell.get("metadata", {}).pop("execution", None)
                if "parameters" in cell.get("metadata", {}).get("tags", []):
                    text = "".join(cell["source"])
                    text = _SOURCE_LINE.sub(lambda m: f"source{m['annotation'] or ''} = {literal}{m['comment'] or ''}",
                                            text, count=1)
                    cell["source"] = text.splitlines(keepends=True)
        target = folder / path.name
        target.write_text(json.dumps(nb, indent=1, ensure_ascii=False) + "\n", encoding="utf-8")
        written.append(target)
    return written
