"""The report's plumbing: typed notebook parameters, quiet papermill runs, pages from templates with autoescape."""
from __future__ import annotations

import asyncio
import signal
import subprocess
import sys
import textwrap
from pathlib import Path

import nbformat
import pandas as pd
import pytest

from analysis.errors import ParameterError
from analysis.report import display, site
from analysis.report.markup import with_toc
from analysis.report.notebooks import _kernel_manager_class, check_parameters, execute_notebook, NotebookFailed
from analysis.report.text import Text


def _notebook(path: Path, parameters: str, cells: tuple[str, ...] = ("x = 1",)) -> Path:
    nb = nbformat.v4.new_notebook()
    nb.cells = [nbformat.v4.new_code_cell(parameters, metadata={"tags": ["parameters"]})]
    nb.cells += [nbformat.v4.new_code_cell(c) for c in cells]
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    nbformat.write(nb, path)
    return path


REQUIRED = {"source": "data", "as_of": "2026-10-31", "language": "en"}
TYPED = textwrap.dedent("""\
    source: str = "../data/sample"  # a folder of CSV files
    as_of: str = "2026-10-31"
    language: str = "en"
    horizon_months: int = 12  # months ahead
    discount_rate: float = 0.01
    group_by: Optional[str] = None
    inactivity_days: int = None  # data-driven when None
    verbose: bool = False
""")
UNTYPED = 'source = "../data/sample"\nas_of = "2026-10-31"\nlanguage = "en"\nhorizon_months = 12\ngroup_by = None'


# --- typed parameters -----------------------------------------------------------------
@pytest.mark.parametrize("name,value,expected", [
    ("horizon_months", 12.5, "expected a whole number"),
    ("horizon_months", "12", "expected a whole number"),
    ("horizon_months", True, "expected a whole number"),
    ("discount_rate", "0.02", "expected a number"),
    ("group_by", 3, "expected text or None"),
    ("verbose", "yes", "expected True or False"),
])
def test_a_value_of_another_type_than_declared_is_one_sentence(tmp_path, name, value, expected):
    nb = _notebook(tmp_path / "clv.ipynb", TYPED)
    with pytest.raises(ParameterError) as err:
        check_parameters(nb, {**REQUIRED, name: value})
    message = str(err.value)
    assert message.startswith(f"--param {name}: got {value!r}, {expected} (clv.ipynb declares {name}: ")
    assert message.count(". ") == 0 and message.endswith(").")


@pytest.mark.parametrize("name,value", [("horizon_months", 24), ("discount_rate", 0.02), ("discount_rate", 0),
                                        ("group_by", "region"), ("group_by", None), ("inactivity_days", None),
                                        ("inactivity_days", 120), ("verbose", True)])
def test_values_of_the_declared_type_pass(tmp_path, name, value):
    check_parameters(_notebook(tmp_path / "clv.ipynb", TYPED), {**REQUIRED, name: value})


def test_cells_without_types_keep_the_number_check(tmp_path):
    nb = _notebook(tmp_path / "clv.ipynb", UNTYPED)
    check_parameters(nb, {**REQUIRED, "horizon_months": 24, "group_by": "region"})
    with pytest.raises(ParameterError, match=r"expected a number \(the notebook's default is 12\)"):
        check_parameters(nb, {**REQUIRED, "horizon_months": "soon"})


def test_a_type_papermill_cannot_read_is_refused_not_dropped(tmp_path):
    # papermill's pattern does not read "str | None": it would drop the parameter without a word
    nb = _notebook(tmp_path / "churn.ipynb", UNTYPED + "\nsegment: str | None = None")
    with pytest.raises(ParameterError, match=r"^churn\.ipynb: papermill cannot read the parameters line "
                                             r"'segment: str \| None = None'; expected 'name: type = value"):
        check_parameters(nb, REQUIRED)


# --- papermill without false alarms -----------------------------------------------------
def test_kernel_is_shut_down_without_an_interrupt():
    manager = _kernel_manager_class({})["kernel_manager_class"]()
    sent = []

    async def run():
        await manager.start_kernel()
        original = manager._async_signal_kernel

        async def record(signum):
            sent.append(signum)
            await original(signum)

        manager._async_signal_kernel = record
        await manager.shutdown_kernel()

    asyncio.run(run())
    assert signal.SIGINT not in sent and not manager.has_kernel


def test_a_successful_run_prints_no_error_and_a_failing_one_names_its_cell(tmp_path):
    ok = _notebook(tmp_path / "ok.ipynb", UNTYPED, ("import matplotlib.pyplot as plt\nplt.plot([1, 2])\nplt.show()",))
    script = (f"from pathlib import Path\nfrom analysis.report.notebooks import execute_notebook\n"
              f"execute_notebook(Path({str(ok)!r}), Path({str(tmp_path / 'out.ipynb')!r}), "
              f"{{**{REQUIRED!r}, 'horizon_months': 12}}, progress=False)\n")
    run = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=300)
    assert run.returncode == 0, run.stderr
    assert "ERROR" not in run.stderr and "KeyboardInterrupt" not in run.stderr, run.stderr
    bad = _notebook(tmp_path / "bad.ipynb", UNTYPED, ("raise ValueError('no such column')",))
    with pytest.raises(NotebookFailed, match=r"bad\.ipynb failed in cell In \[\d+\]: ValueError: no such column"):
        execute_notebook(bad, tmp_path / "bad-out.ipynb", REQUIRED, progress=False)


# --- templates with autoescape ----------------------------------------------------------
HOSTILE = "<script>alert('x')</script> & \"quotes\""


def test_text_from_the_data_is_escaped_in_every_fragment():
    tx = Text("report", "en")
    fragments = [
        display.table_html(pd.DataFrame({HOSTILE: [HOSTILE]}), caption=HOSTILE),
        display.key_numbers_html({HOSTILE: (HOSTILE, HOSTILE)}),
        site.month_nav_html(tx, HOSTILE, [("a.html", HOSTILE), ("b.html", HOSTILE)], current="b.html"),
        site.run_details_html(tx, {HOSTILE: HOSTILE, "parameters": {HOSTILE: HOSTILE}}),
        site.simple_page(HOSTILE, "<p>body</p>", "en", subtitle=HOSTILE),
    ]
    for html in fragments:
        assert "<script>" not in html and "&lt;script&gt;" in html, html[:200]


class _HostileText(Text):
    """Report words with text from the data in every sentence, as a label or an experiment id could carry it."""

    def __call__(self, key: str, **values):
        word = super().__call__(key, **values)
        return [HOSTILE + w for w in word] if isinstance(word, list) else HOSTILE + word


def _escaped(page: str) -> bool:
    return "<script>" not in page and "&lt;script&gt;alert(&#39;x&#39;)&lt;/script&gt; &amp; &#34;quotes&#34;" in page


def test_key_number_cards_keep_a_label_with_html_as_text(monkeypatch):
    from analysis.base import KeyNumber
    from analysis.report import numbers

    monkeypatch.setattr(numbers, "label", lambda number, tx: HOSTILE)
    out = numbers.cards_html([KeyNumber("customers_active", 1125, previous=1090)], Text("report", "en"))
    assert _escaped(out)
    assert out.startswith("<div class='kanta-cards'><div class='kanta-card'><div class='kanta-label'>&lt;script&gt;")
    assert "<div class='kanta-value'>1,125</div><div class='kanta-change'>+35 (+3.2%) vs previous month</div>" in out


def test_actions_and_plan_sentences_keep_html_as_text():
    from types import SimpleNamespace

    from analysis.report import plan_page

    tx = _HostileText("report", "en")
    base = SimpleNamespace(settings=SimpleNamespace(p_alive_threshold=0.3, contact_p_alive_floor=0.1),
                           segment_settings=None, money_basis="revenue")
    actions = [SimpleNamespace(name="win_back", size=0, value=None, value_kind=None, permission_filtered=False),
               SimpleNamespace(name="retain", size=12, value=99.5, value_kind="value_at_stake", permission_filtered=True)]
    out = site.actions_html(actions, base, tx)
    assert _escaped(out) and out.count("<li>") == 2 and out.startswith("<h2>&lt;script&gt;")
    manifest = {"actions": [{"name": "retain", "contact": 9, "holdout": 1, "customers": 10, "value": 5.0,
                             "value_kind": "value_at_stake"}],
                "plan": {"priority": ["retain"], "overlap_removed": 1, "excluded": {"no_permission": 2},
                         "contact_threshold": 4, "holdout_share": 0.1},
                "action_results": [], "action_uplift": []}
    for part in (plan_page.summary_html(manifest, [], tx), plan_page.plan_html(manifest, tx),
                 plan_page.results_html(manifest, tx)):
        assert _escaped(part), part[:200]


def test_an_experiment_id_and_a_degraded_page_with_html_stay_text_on_the_landing_page(tmp_path):
    import datetime as dt
    from types import SimpleNamespace

    tx = Text("report", "en")
    settings = SimpleNamespace(inactivity_days=90, p_alive_threshold=0.3, contact_p_alive_floor=0.1)
    base = SimpleNamespace(settings=settings, segment_settings=None, money_basis="revenue",
                           as_of=pd.Timestamp("2026-10-31"), glossary=lambda: [])
    timing = {"started_at": "2026-11-01T08:00:00", "duration_s": 1.0}
    manifest = {"period": "2026-10", "as_of": "2026-10-31", "previous_as_of": "2026-09-30", "notebooks": [],
                "experiments_ended": [{"id": HOSTILE, "verdict": None}, {"id": "b", "report": HOSTILE}],
                "degraded": [{"page": HOSTILE, "reason": HOSTILE}], "customer_base": timing, **timing}
    ctx = site.RunInfo(tx, "en", "data", "f" * 8, "abc", {}, dt.datetime(2026, 11, 1), "1.0")
    page = site.landing_html(manifest, [], base, [], tx, ctx, tmp_path)
    assert _escaped(page)
    assert f"<li>{HOSTILE.replace('<', '&lt;').replace('>', '&gt;')[:20]}" in page  # the id, as text, in its item
    assert "<a href='&lt;script&gt;alert(&#39;x&#39;)" in page  # a report link from the data stays in its attribute


def test_a_figure_keeps_quotes_in_its_alt_text_inside_the_attribute():
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, _ = plt.subplots()
    out = display.figure_html(fig, "Sales' 'trend", "x' onerror='alert(1)")
    plt.close(fig)
    assert "onerror='alert" not in out and "alt='x&#39; onerror=&#39;alert(1)'" in out


def test_table_of_contents_ignores_headings_in_comments_and_styles():
    page = ("<main><h1>T</h1><!-- <h2>old</h2> --><style>h2 { color: red } /* <h2>x</h2> */</style>"
            + "".join(f"<h2 class='s'>Part &amp; {i}<a class='anchor-link' href='#p'>¶</a></h2>" for i in range(4))
            + "</main>")
    out = with_toc(page, "On this page")
    assert out.count("<li>") == 4 and "<h2 id='part-0' class='s'>" in out
    assert "<li><a href='#part-3'>Part &amp; 3</a></li>" in out and "¶</a></li>" not in out
    assert "<!-- <h2>old</h2> -->" in out and "/* <h2>x</h2> */" in out  # untouched
    assert out.replace("<h2 id='part-0'", "<h2").count("id='part-") == 3


def test_table_of_contents_gives_two_equal_headings_two_targets():
    page = "<h1>T</h1>" + "<h2>Same</h2>" * 4 + "<div id='same'></div>"
    out = with_toc(page, "On this page")
    assert [f"id='{t}'" in out for t in ("same-2", "same-3", "same-4", "same-5")] == [True] * 4


def test_jobs_start_costliest_first_and_return_in_list_order():
    """Longest processing time first; the results (pages) stay in page order."""
    from analysis.report.notebooks import run_jobs

    started = []

    def job(name):
        def run(position):
            started.append(name)
            return name
        return run

    names = ["customer_base", "clv", "churn", "segments", "experiment"]
    tasks = [(n, job(n)) for n in names]
    assert run_jobs(tasks, 1, None, costs=[6, 27, 28, 10, 13]) == names
    assert started == ["churn", "clv", "experiment", "segments", "customer_base"]
    started.clear()
    assert run_jobs(tasks, 1, None) == names and started == names  # without costs: in list order
