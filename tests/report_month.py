"""One monthly report rendered from the committed sample, shared by the report and browser tests.

Rendering runs every report notebook, so it is done once per test session (memoised here,
because a fixture defined in one test module is not shared with another).
"""
from __future__ import annotations

from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
SAMPLE = ROOT / "data" / "sample"
PERIOD = "2026-10"
_RENDERED: dict[str, dict] = {}


def rendered_month(tmp_path_factory, language: str = "en", only: tuple[str, ...] | None = None) -> dict:
    """Render ``PERIOD`` on the sample once per (language, notebooks) and return its paths."""
    from analysis import report

    key = f"{language}:{only}"
    if key not in _RENDERED:
        out = tmp_path_factory.mktemp(f"report-{language}") / "reports"
        specs = None if only is None else [s for s in report.NOTEBOOKS if s.name in only]
        landing = report.build_report(PERIOD, data=SAMPLE, out=out, language=language, quiet=True, specs=specs)
        _RENDERED[key] = {"out": out, "landing": landing, "month_dir": landing.parent}
    return _RENDERED[key]
