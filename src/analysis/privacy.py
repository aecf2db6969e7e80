"""Pseudonymous customer IDs for anything a stakeholder sees.

A keyed hash (HMAC-SHA256) maps a raw customer ID to a stable short token, so the
same customer has the same pseudonym in every report, and nobody without the key
can go back to the raw ID. Set ``KANTA_PSEUDONYM_KEY`` in production; the built-in
key only keeps the demo reproducible.
"""
from __future__ import annotations

import hashlib
import hmac
import os
from typing import Iterable

import pandas as pd

DEMO_KEY = "kanta-demo-key-change-me"
PREFIX = "K-"


def pseudonym_key(key: str | None = None) -> bytes:
    """The key to use: the argument, else ``$KANTA_PSEUDONYM_KEY``, else the demo key."""
    return (key or os.environ.get("KANTA_PSEUDONYM_KEY") or DEMO_KEY).encode("utf-8")


def pseudonymize(ids: Iterable, key: str | None = None, length: int = 10) -> pd.Series:
    """Return the pseudonymous ID of every raw ID, in order.

    Parameters
    ----------
    ids : iterable
        Raw customer IDs (any type; compared as strings).
    key : str, optional
        Secret key of the keyed hash.
    length : int
        Number of hex characters kept (10 = 40 bits: collisions are negligible
        for bases under a few million customers).

    Example
    -------
    >>> pseudonymize(["C000001"]).iloc[0].startswith("K-")
    True
    """
    k = pseudonym_key(key)
    values = list(ids)
    index = ids.index if isinstance(ids, pd.Series) else None
    out = [PREFIX + hmac.new(k, str(v).encode("utf-8"), hashlib.sha256).hexdigest()[:length] for v in values]
    return pd.Series(out, index=index, dtype="object", name="pseudonym")
