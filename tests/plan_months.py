"""Two months of the sample published into one folder with a one-cell notebook, shared by the plan and landing tests.

Memoised here (a fixture of one test module is not shared with another), like :mod:`report_month`.
"""
from __future__ import annotations

import re

from report_month import SAMPLE

_PUBLISHED: dict = {}


def plain(page: str) -> str:
    """The page without its keep-together spans (a date or "+€1.74" is wrapped in one so it never breaks over two
    lines), so sentences can be read as text."""
    return re.sub(r"<span class='kanta-nowrap'>([^<]*)</span>", r"\1", page)


def tiny_notebook(folder) -> None:
    """A one-cell ``customer_base`` notebook: the month's run without the cost of the real pages."""
    import nbformat

    nb = nbformat.v4.new_notebook()
    nb.cells = [nbformat.v4.new_code_cell('source = ""\nas_of = ""\nlanguage = "en"', metadata={"tags": ["parameters"]}),
                nbformat.v4.new_markdown_cell("# Tiny")]
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    nbformat.write(nb, folder / "customer_base.ipynb")


def published_two_months(tmp_path_factory) -> dict:
    """2026-09 (holdout share 0.2) then 2026-10 published into one folder: both manifests and October's landing."""
    from analysis import report

    if not _PUBLISHED:
        folder = tmp_path_factory.mktemp("plan-notebooks")
        tiny_notebook(folder)
        out = folder / "reports"
        specs = [report.NotebookSpec("customer_base")]
        first = report.render_month("2026-09", data=SAMPLE, out=out, notebooks=folder, quiet=True, specs=specs,
                                    params=["holdout_share=0.2"])
        second = report.render_month("2026-10", data=SAMPLE, out=out, notebooks=folder, quiet=True, specs=specs)
        _PUBLISHED.update(out=out, first=first.manifest, second=second.manifest,
                          page=(out / "2026-10" / "index.html").read_text(encoding="utf-8"))
        _PUBLISHED["landing"] = plain(_PUBLISHED["page"])
    return _PUBLISHED
