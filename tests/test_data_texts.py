"""Campaign texts from the data shown as data: the text in the page's language when the data has it (a ``goal_fi``
column), else the given text, quoted and marked as the data's own words on a page in another language."""
from __future__ import annotations

import shutil

import pandas as pd
import pytest

from analysis import experiments as ex
from analysis.data import load_source
from analysis.experiments.brief import campaign_brief
from analysis.report.pages import campaign
from report_month import SAMPLE

EXPERIMENT = "vip-bonus-2026-08"
GOAL_FI = "Kasvata aktiivisten tiheästi ostavien asiakkaiden ostoja kanta-asiakasbonuksella"


@pytest.fixture(scope="module")
def translated(tmp_path_factory):
    """The sample with a Finnish goal for one campaign and a Finnish audience for none."""
    data = tmp_path_factory.mktemp("texts") / "data"
    shutil.copytree(SAMPLE, data)
    c = pd.read_csv(data / "campaigns.csv")
    c["goal_fi"] = [GOAL_FI if e == EXPERIMENT else None for e in c["experiment_id"]]
    c.to_csv(data / "campaigns.csv", index=False)
    return load_source(data, as_of="2026-10-31")


def test_the_finnish_column_is_the_finnish_pages_text(translated):
    brief = campaign_brief(translated, EXPERIMENT)
    assert brief.goal.startswith("Grow spend") and brief.text_in("goal", "fi") == GOAL_FI
    assert brief.text_in("goal", "en") is None and brief.text_in("audience", "fi") is None
    rep = ex.campaign_report(translated, EXPERIMENT, include_clv=False, n_boot=50)
    fi, en = campaign.campaign_text(rep, "fi"), campaign.campaign_text(rep, "en")
    assert fi["goal"] == GOAL_FI  # the data's own Finnish: no quotes, no mark
    assert en["goal"] == brief.goal
    # the audience has no Finnish column: quoted and marked as the data's text
    assert f"”{brief.audience}” (aineiston teksti)" in fi["execution"]


def test_a_campaign_without_the_column_keeps_the_marked_text(translated):
    other = next(e for e in pd.read_csv(SAMPLE / "campaigns.csv")["experiment_id"] if e != EXPERIMENT)
    brief = campaign_brief(translated, other)
    assert brief.text_in("goal", "fi") is None  # an empty goal_fi cell is no translation
    assert campaign.given(campaign.Text("experiments", "fi"), brief, "goal") == f"”{brief.goal}” (aineiston teksti)"
    assert campaign.given(campaign.Text("experiments", "fi"), None, "goal") is None
