"""Harrell's concordance index of a fitted Cox model, as lifelines counts it, without a Python loop per customer.

lifelines walks the customers in time order and keeps a balanced tree of the churned customers' predictions
(3.5 s on the 156,000 customers of a 200,000-customer base). The same counts come from sorted arrays: the
churned customers sorted by time, and for each customer the prefix of those who churned before (a customer who
churned: strictly before; a censored one: at or before). That prefix is split into at most log2(n) aligned
blocks whose predictions are sorted once per block size, so every count is a binary search.
"""
from __future__ import annotations

import numpy as np
import pandas as pd

__all__ = ["concordance_counts", "concordance_index", "cox_concordance"]


def concordance_counts(times, predicted, events) -> tuple[int, int, int]:
    """``(correct, tied, pairs)`` of lifelines' ``_concordance_summary_statistics``.

    Each customer is compared with every churned customer who left before it (strictly before when it churned
    too, at or before when it is censored): a pair, correct when that customer's ``predicted`` (a predicted
    survival time, higher = stays longer) is lower, tied when equal.
    """
    t = np.asarray(times, dtype=float)
    p = np.asarray(predicted, dtype=float)
    e = np.asarray(events).astype(bool)
    if len(t) == 0 or not e.any():
        return 0, 0, 0
    _, rank = np.unique(p, return_inverse=True)
    rank = rank.astype(np.int64).ravel()
    order = np.argsort(t[e], kind="stable")
    dead_t, dead_r = t[e][order], rank[e][order]
    m = len(dead_t)
    width = int(rank.max()) + 2
    # the prefix of churned customers each customer is compared with
    prefix = np.where(e, np.searchsorted(dead_t, t, side="left"), np.searchsorted(dead_t, t, side="right"))
    pairs = int(prefix.sum())
    correct = tied = 0
    level = 0
    while (1 << level) <= m:
        size = 1 << level
        block = np.arange(m, dtype=np.int64) >> level
        keys = np.sort(block * width + dead_r)  # each aligned block's ranks, sorted, blocks in order
        hit = (prefix >> level) & 1 == 1  # this block size is part of the customer's prefix
        b = (prefix[hit] >> level) - 1  # the block: [b * size, (b + 1) * size), wholly inside the prefix
        lo = np.searchsorted(keys, b * width + rank[hit], side="left")
        hi = np.searchsorted(keys, b * width + rank[hit], side="right")
        correct += int((lo - b * size).sum())
        tied += int((hi - lo).sum())
        level += 1
    return correct, tied, pairs


def concordance_index(times, predicted, events) -> float:
    """lifelines' ``concordance_index(times, predicted, events)``: ``(correct + tied / 2) / pairs``."""
    correct, tied, pairs = concordance_counts(times, predicted, events)
    if pairs == 0:
        raise ZeroDivisionError("No admissable pairs in the dataset.")
    return (correct + tied / 2) / pairs


def cox_concordance(cph) -> float:
    """A fitted ``lifelines.CoxPHFitter``'s ``concordance_index_`` (strata summed as lifelines sums them)."""
    df: pd.DataFrame = cph._predicted_partial_hazards_
    groups = df.groupby(cph.strata) if cph.strata else [(None, df)]
    correct = tied = pairs = 0
    for _, part in groups:
        if len(part) == 1:
            continue
        c, t, n = concordance_counts(part["T"].to_numpy(), -part["P"].to_numpy(), part["E"].to_numpy())
        correct, tied, pairs = correct + c, tied + t, pairs + n
    if pairs == 0:
        raise ZeroDivisionError("No admissable pairs in the dataset.")
    return (correct + tied / 2) / pairs
