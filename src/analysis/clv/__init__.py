"""Customer lifetime value: purchase models (BG/NBD, MBG/NBD, Pareto/NBD) x Gamma-Gamma spend.

Layer 4: fits the models on the customer table, scores every customer over a horizon in months,
validates on a holdout and sums value over the portfolio, in no language. May import the root
modules (errors, units, findings), ``data``, ``customers`` and ``stats``; never ``segments``,
``churn`` or anything above.

Example
-------
>>> from analysis import clv
>>> result = clv.analyse("data/sample", as_of="2026-10-31", model="bgnbd")  # doctest: +SKIP
>>> clv.equity(result.values)                                                # doctest: +SKIP
"""
from analysis.clv.fitting import (
    BOUNDARY_LOWER, BOUNDARY_UPPER, DROPOUT_PARAMS, MIN_HISTORY_DAYS, MIN_REPEAT_CUSTOMERS, MODEL_CHOICES,
    PURCHASE_MODELS, RFM_COLUMNS, SPEND_OUTLIER_MADS, FitResult, check_boundary, check_horizon, check_rfm, check_unit,
    compress, fit_model, spend_outliers,
)
from analysis.clv.holdout import (
    HOLDOUT_MONTHS, HoldoutScorecard, compare_models, holdout_mae, holdout_scorecard, holdout_split, scorecard,
)
from analysis.clv.model import HOLDOUT_TIE, CLVModel, model_facts
from analysis.clv.selection import LR_LEVEL, TIE_BREAK, TIE_TOLERANCE, DropoutTest, choose, dropout_test
from analysis.clv.pipeline import CLVResult, analyse, as_table, customer_value
from analysis.clv.portfolio import Concentration, ValueAtRisk, concentration, equity, equity_interval, value_at_risk
from analysis.clv.simulation import simulate_rfm
from analysis.clv.value import clv_from_params, discounted_purchases, gg_expected_value

__all__ = [
    # the model and the pipeline
    "CLVModel", "CLVResult", "analyse", "customer_value", "as_table", "model_facts",
    # fitting
    "FitResult", "fit_model", "compress", "check_boundary", "check_horizon", "check_rfm", "check_unit",
    "spend_outliers",
    # formulas
    "clv_from_params", "discounted_purchases", "gg_expected_value",
    # holdout validation
    "HoldoutScorecard", "holdout_split", "holdout_mae", "compare_models", "holdout_scorecard", "scorecard",
    # portfolio
    "ValueAtRisk", "Concentration", "equity", "value_at_risk", "concentration", "equity_interval",
    # simulation
    "simulate_rfm",
    # settings
    "RFM_COLUMNS", "PURCHASE_MODELS", "MODEL_CHOICES", "MIN_REPEAT_CUSTOMERS", "MIN_HISTORY_DAYS",
    "BOUNDARY_LOWER", "BOUNDARY_UPPER", "DROPOUT_PARAMS", "SPEND_OUTLIER_MADS", "HOLDOUT_MONTHS", "HOLDOUT_TIE",
    "LR_LEVEL", "TIE_TOLERANCE", "TIE_BREAK",
    # model choice
    "DropoutTest", "dropout_test", "choose",
]
