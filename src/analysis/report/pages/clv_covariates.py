"""Covariate effects for the CLV page: who buys more often and who leaves sooner, in the reader's language.

Made from the language-free ``covariates`` result (:func:`analysis.clv.covariates.covariates_json`, the
same dict ``kanta clv --covariates --params-out`` writes); the words are in ``strings/covariates.json``.
"""
from __future__ import annotations

import math
from typing import Mapping

from analysis.report.text import Text

MODEL_NAMES = {"pareto_nbd": "Pareto/NBD", "bgnbd": "BG/NBD"}
#: Attribute columns with their own group wording (others: "customers with COL LEVEL").
GROUP_WORDING = ("acquisition_channel", "region", "age_band")


def _tx(language_or_tx) -> Text:
    return language_or_tx if isinstance(language_or_tx, Text) else Text("covariates", language_or_tx)


def _group(tx: Text, key: str, covariates: Mapping) -> str:
    column, _, level = key.partition("=")
    if not level:
        sd = covariates.get("per_sd", {}).get(column, {}).get("sd", float("nan"))
        return tx("group_numeric", column=column, sd=tx.number(sd, 1))
    if level == "other" and column in covariates.get("pooled", {}):
        level = tx("group_other")
    if column in GROUP_WORDING:
        return tx(f"group_{column}", level=level)
    return tx("group_level", column=column, level=level)


def _effect(tx: Text, key: str, e: Mapping) -> str:
    values = (e.get("multiplier"), e.get("ci_low"), e.get("ci_high"))
    note = tx("effect_unclear") if values[1] <= 1 <= values[2] else ""
    return tx(key, x=tx.number(values[0], 2), low=tx.number(values[1], 2), high=tx.number(values[2], 2), note=note)


def effect_sentences(covariates: Mapping, language="en", model: str = "pareto_nbd") -> list[str]:
    """The covariate effects as sentences: an introduction naming the reference groups, one sentence per
    group ("customers acquired through online_ad buy 1.40 times as often (1.30–1.50) and leave at 0.60
    times the rate (0.50–0.70)."), then the pooled small groups and the penalty, if any.

    Parameters
    ----------
    covariates : dict
        ``covariates`` of the params JSON: ``purchase`` and ``dropout`` ({key: {multiplier, ci_low,
        ci_high}}), ``reference``, ``pooled``, ``per_sd``, ``l2``.
    language : {"en", "fi"} or Text
    model : {"pareto_nbd", "bgnbd"}
        BG/NBD's drop-out effect is on the probability of stopping after a purchase, not a rate.

    Example
    -------
    >>> cov = {"purchase": {"acquisition_channel=online": {"multiplier": 1.4, "ci_low": 1.3, "ci_high": 1.5}},
    ...        "dropout": {"acquisition_channel=online": {"multiplier": 0.6, "ci_low": 0.5, "ci_high": 0.7}},
    ...        "reference": {"acquisition_channel": "shop"}, "pooled": {}, "per_sd": {}, "l2": 0.0}
    >>> effect_sentences(cov, "en")[1]
    'Customers acquired through online buy 1.40 times as often (1.30–1.50) and leave at 0.60 times the rate (0.50–0.70).'
    """
    tx = _tx(language)
    reference = tx("covariates_and").join(tx("covariates_reference_item", column=c, level=v)
                                          for c, v in covariates.get("reference", {}).items())
    out = [tx("covariates_intro", reference=reference or "—", model=MODEL_NAMES.get(model, model))]
    leave_key = "effect_leave_rate" if model == "pareto_nbd" else "effect_leave_probability"
    purchase, dropout = covariates.get("purchase", {}), covariates.get("dropout", {})
    for key in dict.fromkeys([*purchase, *dropout]):
        group = _group(tx, key, covariates)
        Group = group[:1].upper() + group[1:]
        parts = [(purchase.get(key), "effect_buy"), (dropout.get(key), leave_key)]
        if any(e is None or any(v is None or not math.isfinite(v) for v in e.values()) for e, _ in parts if e):
            out.append(tx("effect_no_interval", Group=Group))
            continue
        effects = [_effect(tx, k, e) for e, k in parts if e]
        out.append(tx("effect_sentence", Group=Group, effects=tx("covariates_and").join(effects)))
    for column, levels in covariates.get("pooled", {}).items():
        out.append(tx("covariates_pooled", n=tx.number(covariates.get("min_level_customers", 30)), column=column,
                      levels=", ".join(levels)))
    if covariates.get("l2"):
        out.append(tx("covariates_l2", l2=tx.number(covariates["l2"], 3)))
    return out


__all__ = ["effect_sentences"]
