"""Discrete opportunities: the BG/BB model on (x, t_x, n) counts and ``kanta clv --model bgbb``.

Known answer: Fader, Hardie & Shang (2010), the donations data (11,104 first-time donors of 1995,
six yearly opportunities 1996-2001; lifetimes ships it). Published estimates alpha = 1.204,
beta = 0.750, gamma = 0.657, delta = 2.783 (LL -33,225.6); lifetimes' BetaGeoBetaBinomFitter is the
independent oracle for the estimates, P(alive) and expected transactions.
"""
from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from analysis.clv import bgbb
from analysis.clv.discrete import opportunity_table
from analysis.errors import DataError, ModelError

PUBLISHED = {"alpha": 1.204, "beta": 0.750, "gamma": 0.657, "delta": 2.783}


def _sig3(a: float, b: float) -> bool:
    return f"{a:.3g}" == f"{b:.3g}"


@pytest.fixture(scope="module")
def donations() -> pd.DataFrame:
    import lifetimes

    return pd.read_csv(Path(lifetimes.__file__).parent / "datasets" / "donations.csv")


@pytest.fixture(scope="module")
def fitted(donations):
    return bgbb.fit_bgbb(donations["frequency"], donations["recency"], donations["periods"], donations["weights"])


@pytest.fixture(scope="module")
def oracle(donations):
    from lifetimes import BetaGeoBetaBinomFitter

    return BetaGeoBetaBinomFitter().fit(donations["frequency"], donations["recency"], donations["periods"],
                                        weights=donations["weights"])


# --------------------------------------------------------------------------- the model
def test_donations_estimates_match_the_paper_and_lifetimes(fitted, oracle):
    assert fitted.n_customers == 11_104 and fitted.n_rows == 22
    for k, v in PUBLISHED.items():
        assert _sig3(fitted.params[k], v), (k, fitted.params[k])
        assert fitted.params[k] == pytest.approx(oracle.params_[k], rel=1e-5)
    assert round(fitted.log_likelihood, 1) == -33225.6
    assert all(0 < fitted.standard_errors[k] < fitted.params[k] / 5 for k in PUBLISHED)


@pytest.mark.parametrize("future", [0, 1])
def test_p_alive_table_matches_lifetimes(fitted, oracle, future):
    """The paper's P(alive) table (``future = 1``: alive in 2002) and "alive now" for every (x, t_x) with n = 6."""
    table = bgbb.p_alive_table(fitted.params, 6, future)
    x, t = np.nonzero(table.notna().to_numpy())
    theirs = oracle.conditional_probability_alive(future, x, t, np.full(len(x), 6))
    assert np.allclose(table.to_numpy()[x, t], theirs, atol=1e-6)
    # more donations and a more recent last one mean more likely alive; all six years: the same as t_x = 6
    assert table.loc[1, 6] > table.loc[1, 3] > table.loc[1, 1]
    assert table.loc[6, 6] == pytest.approx(table.loc[1, 6])


def test_expected_transactions_match_lifetimes(donations, fitted, oracle):
    x, t, n = (donations[c].to_numpy() for c in ("frequency", "recency", "periods"))
    for horizon in (1, 5, 10):
        ours = bgbb.expected_transactions(fitted.params, horizon, x, t, n)
        theirs = oracle.conditional_expected_number_of_purchases_up_to_time(horizon, x, t, n)
        assert np.allclose(ours, theirs, rtol=1e-6)
    undiscounted = bgbb.discounted_transactions(fitted.params, 5, 0.0, x, t, n)
    assert np.allclose(undiscounted, bgbb.expected_transactions(fitted.params, 5, x, t, n))
    assert np.all(bgbb.discounted_transactions(fitted.params, 5, 0.1, x, t, n) < undiscounted)


def test_likelihood_equals_the_papers_sum_term_by_term():
    """Eq. 5 written out directly, for histories of different lengths (the fit uses tail sums on a grid)."""
    from scipy.special import betaln

    a, b, g, d = 1.3, 0.8, 0.7, 2.5
    rows = [(0, 0, 3), (1, 1, 3), (2, 5, 9), (4, 4, 30), (7, 25, 30), (1, 29, 30), (3, 12, 12)]

    def direct(x, t, n):
        total = np.exp(betaln(a + x, b + n - x) - betaln(a, b) + betaln(g, d + n) - betaln(g, d))
        for i in range(n - t):
            total += np.exp(betaln(a + x, b + t - x + i) - betaln(a, b) + betaln(g + 1, d + t + i) - betaln(g, d))
        return np.log(total)

    x, t, n = (np.array(c) for c in zip(*rows))
    w = np.arange(1, len(rows) + 1)
    expected = sum(wi * direct(*r) for wi, r in zip(w, rows))
    assert bgbb.bgbb_loglik(np.log([a, b, g, d]), x, t, n, w) == pytest.approx(expected, rel=1e-12)


def test_analytic_gradient_matches_finite_differences():
    x, t, n = np.array([0, 1, 2, 4, 7, 1, 3, 0]), np.array([0, 1, 5, 4, 25, 29, 12, 0]), np.array([3, 3, 9, 30, 30, 30, 12, 0])
    d = bgbb._Rows(*(v.astype(float) for v in (x, t, n)), np.ones(len(x)))
    theta = np.log([1.3, 0.8, 0.7, 2.5])
    _, g = bgbb._log_terms(theta, d, True)
    numeric = np.stack([(bgbb._log_terms(theta + e, d) - bgbb._log_terms(theta - e, d)) / 2e-6
                        for e in np.eye(4) * 1e-6], axis=1)
    assert np.allclose(g, numeric, atol=1e-6)


def test_counts_are_sufficient_statistics(donations, fitted):
    """Ten times the donors with the same histories: the same estimates, standard errors / sqrt(10)."""
    big = bgbb.fit_bgbb(donations["frequency"], donations["recency"], donations["periods"], 10 * donations["weights"])
    for k in PUBLISHED:
        assert big.params[k] == pytest.approx(fitted.params[k], rel=1e-4)
        assert big.standard_errors[k] == pytest.approx(fitted.standard_errors[k] / np.sqrt(10), rel=1e-2)
    assert big.n_rows == 22


def test_seeded_simulation_recovers_the_parameters():
    rng = np.random.default_rng(2010)
    truth = {"alpha": 1.5, "beta": 2.0, "gamma": 0.6, "delta": 3.5}
    m, n = 20_000, 10
    p, theta = rng.beta(truth["alpha"], truth["beta"], m), rng.beta(truth["gamma"], truth["delta"], m)
    alive = np.ones(m, bool)
    buys = np.zeros((m, n), bool)
    for k in range(n):  # the customer may leave at the start of each opportunity, then buys with chance p
        alive &= rng.random(m) >= theta
        buys[:, k] = alive & (rng.random(m) < p)
    x = buys.sum(1)
    t_x = np.where(x > 0, n - np.argmax(buys[:, ::-1], axis=1), 0)
    rows = pd.DataFrame({"x": x, "t_x": t_x}).value_counts().reset_index(name="w")
    fit = bgbb.fit_bgbb(rows["x"], rows["t_x"], np.full(len(rows), n), rows["w"])
    for k, v in truth.items():
        assert abs(fit.params[k] - v) < 1.96 * fit.standard_errors[k], (k, fit.params[k], v)


def test_inconsistent_rows_are_refused():
    with pytest.raises(DataError, match="0 <= x <= t_x <= n"):
        bgbb.fit_bgbb([1, 3], [2, 2], [6, 6])


def test_customers_without_spread_are_a_boundary_finding():
    """60 customers whose buying chances do not differ: the fit runs off to beta -> infinity, a finding, not numbers."""
    with pytest.raises(ModelError) as exc:
        bgbb.fit_bgbb([0, 1, 2, 3, 1, 2], [0, 1, 3, 6, 5, 6], [6] * 6, [30, 10, 8, 12, 6, 9])
    assert exc.value.reason == "boundary_fit"


def test_too_few_repeat_customers_is_a_model_error():
    with pytest.raises(ModelError) as exc:
        bgbb.fit_bgbb([0, 1], [0, 3], [6, 6], [500, 3])
    assert exc.value.reason == "too_few_repeat_customers"


# --------------------------------------------------------------------------- data sources and the CLI
def _donations_source(folder: Path, donations: pd.DataFrame) -> str:
    """Donors as a transaction log: the first gift in 1995, the repeat ones in the years their (x, t_x) allow."""
    tx, cust = [], []
    k = 0
    for x, t_x, _, w in donations.itertuples(index=False):
        years = [0, *range(1, x), *([t_x] if x else [])]
        for _ in range(int(w)):
            cid = f"D{k:05d}"
            cust.append(cid)
            tx += [(cid, f"{1995 + y}-06-15", 20.0 + 5 * (k % 7) + y) for y in years]
            k += 1
    folder.mkdir(parents=True, exist_ok=True)
    pd.DataFrame(tx, columns=["customer_id", "timestamp", "amount"]).to_csv(folder / "transactions.csv", index=False)
    pd.DataFrame({"customer_id": cust, "signup_date": "1995-01-01"}).to_csv(folder / "customers.csv", index=False)
    return str(folder)


@pytest.fixture(scope="module")
def donations_dir(tmp_path_factory, donations):
    return _donations_source(tmp_path_factory.mktemp("donations"), donations)


def test_cli_reproduces_the_donations_paper(donations_dir, fitted, run_cli, tmp_path):
    out, params = tmp_path / "clv.csv", tmp_path / "params.json"
    code, stdout, _ = run_cli("clv", donations_dir, "--as-of", "2001-12-31", "--model", "bgbb", "--opportunity", "year",
                              "--out", out, "--params-out", params)
    assert code == 0 and "11104 customers" in stdout
    p = json.loads(params.read_text())
    for k, v in PUBLISHED.items():
        assert _sig3(p["bgbb"][k], v)
    values = pd.read_csv(out)
    assert list(values.columns[:5]) == ["customer_id", "p_alive", "expected_purchases", "expected_avg_value", "clv"]
    assert len(values) == 11_104 and values["T"].eq(6).all()
    table = bgbb.p_alive_table(fitted.params, 6)
    expected = table.to_numpy()[values["frequency"], values["recency"]]
    assert np.allclose(values["p_alive"], expected, atol=1e-6)
    assert p["spend_model"] == "gamma_gamma" and (values["clv"] >= 0).all()
    assert np.allclose(values["clv"], values["p_alive"] * values["clv_if_alive"])


def test_weekly_opportunities_count_one_purchase_per_week(tmp_path):
    """Three purchases in week 2 are one opportunity; the week still under way at as_of is not one yet."""
    d = tmp_path / "weekly"
    d.mkdir()
    pd.DataFrame({"customer_id": ["a", "a", "a", "a", "a", "b"],
                  "timestamp": ["2026-01-05", "2026-01-19", "2026-01-20", "2026-01-21", "2026-02-04", "2026-02-04"],
                  "amount": [10.0, 5, 5, 5, 7, 3]}).to_csv(d / "transactions.csv", index=False)
    t = opportunity_table(str(d), "2026-02-04", "week").set_index("customer_id")
    # weeks start 2026-01-05 (Monday); as_of is the Wednesday of week 4, so weeks 1-3 are complete
    assert t.loc["a", ["x", "t_x", "n"]].tolist() == [1, 2, 3]
    assert t.loc["a", "monetary_value"] == 15.0 and t.loc["a", "mean_spend"] == 12.5
    assert t.loc["b", ["x", "t_x", "n"]].tolist() == [0, 0, 0]
    # as_of on a Sunday: the week is complete and the purchase of 2026-02-04 counts
    t = opportunity_table(str(d), "2026-02-08", "week").set_index("customer_id")
    assert t.loc["a", ["x", "t_x", "n"]].tolist() == [2, 4, 4]


def test_bgbb_needs_an_opportunity(run_cli, donations_dir, tmp_path):
    out = tmp_path / "clv.csv"
    code, _, err = run_cli("clv", donations_dir, "--as-of", "2001-12-31", "--model", "bgbb", "--out", out)
    assert code == 2 and err.startswith("kanta: --model bgbb: give --opportunity") and not out.exists()
    with pytest.raises(SystemExit) as exc:
        run_cli("clv", donations_dir, "--as-of", "2001-12-31", "--model", "bgbb", "--opportunity", "day", "--out", out)
    assert exc.value.code == 2


def test_too_little_history_is_a_finding_in_the_params(tmp_path, run_cli):
    d = tmp_path / "thin"
    d.mkdir()
    pd.DataFrame({"customer_id": ["a", "b", "a"], "timestamp": ["2025-01-03", "2025-02-03", "2025-03-03"],
                  "amount": [10.0, 5, 5]}).to_csv(d / "transactions.csv", index=False)
    out, params = tmp_path / "clv.csv", tmp_path / "p.json"
    code, _, err = run_cli("clv", d, "--as-of", "2025-03-31", "--model", "bgbb", "--opportunity", "month",
                           "--out", out, "--params-out", params)
    assert code == 0 and "too_few_repeat_customers" in err
    assert json.loads(params.read_text())["finding"]["reason"] == "too_few_repeat_customers"
    values = pd.read_csv(out)
    assert len(values) == 2 and values["clv"].isna().all()
