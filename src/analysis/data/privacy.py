"""Personal data: which columns and values identify a person, and pseudonymous customer IDs.

A keyed hash (HMAC-SHA256) maps a raw customer ID to a stable short token, so the
same customer has the same pseudonym in every report, and nobody without the key
can go back to the raw ID. Set ``KANTA_PSEUDONYM_KEY`` in production; the built-in
key is public and only keeps the demo reproducible (:func:`pseudonym_key_kind`).
"""
from __future__ import annotations

import hashlib
import json
import os
import re
import unicodedata
from pathlib import Path
from typing import Iterable

import duckdb
import pandas as pd

from analysis.errors import ParameterError

DEMO_KEY = "kanta-demo-key-change-me"
PREFIX = "K-"
KEY_VARIABLE = "KANTA_PSEUDONYM_KEY"

# --- personal data by column name ------------------------------------------------------------
#: Column names (normalised: lower case, ASCII, words joined by ``_``) that hold personal data,
#: in English and Finnish. Never carried into the customer table or shown on a page.
PERSONAL_COLUMN_NAMES = frozenset({
    "name", "first_name", "last_name", "full_name", "firstname", "lastname", "fullname", "surname",
    "customer_name", "contact_name", "email", "e_mail", "email_address", "mail", "phone", "phone_number",
    "mobile", "mobile_phone", "telephone", "gsm", "address", "street_address", "street", "postal_address",
    "ssn", "social_security_number", "personal_id", "national_id", "birth_date", "date_of_birth", "dob",
    "birthday",
    # Finnish
    "nimi", "etunimi", "sukunimi", "koko_nimi", "asiakkaan_nimi", "sahkoposti", "sahkopostiosoite", "sposti",
    "s_posti", "puhelin", "puhelinnumero", "puh", "matkapuhelin", "kannykka", "osoite", "katuosoite",
    "lahiosoite", "postiosoite", "hetu", "henkilotunnus", "sotu", "syntymaaika", "syntymapaiva",
})
# A word anywhere in a column name that marks it as personal (``contact_email``, ``asiakas_puhelin``).
_PERSONAL_WORDS = frozenset({"email", "mail", "sahkoposti", "sposti", "phone", "puhelin", "puhelinnumero",
                             "mobile", "hetu", "henkilotunnus", "ssn", "address", "osoite", "katuosoite",
                             "etunimi", "sukunimi", "firstname", "lastname", "surname"})


def normalise_column_name(name: str) -> str:
    """``'Sähköposti'`` -> ``'sahkoposti'``, ``'E-mail'`` -> ``'e_mail'``: the form the name lists use.

    Example
    -------
    >>> normalise_column_name(" Sähkö-posti ")
    'sahko_posti'
    """
    ascii_ = unicodedata.normalize("NFKD", str(name)).encode("ascii", "ignore").decode("ascii")
    return re.sub(r"[^a-z0-9]+", "_", ascii_.lower()).strip("_")


def is_personal_column(name: str) -> bool:
    """Whether a column's *name* says it holds personal data (English or Finnish).

    Example
    -------
    >>> [is_personal_column(c) for c in ("E-mail", "sähköposti", "Etunimi", "region", "age group")]
    [True, True, True, False, False]
    """
    n = normalise_column_name(name)
    return n in PERSONAL_COLUMN_NAMES or n.replace("_", "") in PERSONAL_COLUMN_NAMES or \
        bool(set(n.split("_")) & _PERSONAL_WORDS)


# --- personal data by value -------------------------------------------------------------------
#: Common first names (Finnish and English; Statistics Finland's and the ONS's most frequent), for
#: finding person names by value. Names that are also everyday words or places (April, Jordan,
#: Victoria, Santa) are left out; see :data:`PATTERNS` for what the rule can and cannot see.
FIRST_NAMES = tuple(sorted(set("""
Juhani Johannes Olavi Antero Tapani Kalevi Tapio Matti Mikael Ilmari Timo Pekka Jari Juha Mikko Markku Kari Antti Jukka
Hannu Heikki Seppo Ville Janne Petri Sami Marko Jussi Teemu Tuomas Lauri Jani Veikko Erkki Esa Risto Pentti Mika Aleksi
Eero Onni Eino Elias Väinö Niilo Joonas Eetu Arttu Otto Toni Kimmo Jouni Harri Jarmo Raimo Reijo Arto
Maria Helena Johanna Anneli Kaarina Marjatta Anna Liisa Annikki Hannele Tuula Päivi Pirjo Anne Tiina Sari Minna Leena
Riitta Marja Sanna Laura Katja Kirsi Merja Eila Aino Sofia Emilia Aada Ella Venla Elli Eveliina Kristiina Elina Hanna
Heidi Jenni Satu Susanna Sirpa Ritva Marjut Jaana Outi Noora Essi Iida Pihla Saara Veera Milla Niina
James John Robert Michael William David Richard Joseph Thomas Charles Christopher Daniel Matthew Anthony Steven Andrew
Joshua Kevin Brian Edward Peter George Harry Oliver Jacob Samuel Benjamin Jonathan Patrick Mary Patricia Jennifer Linda
Elizabeth Barbara Susan Jessica Sarah Karen Nancy Lisa Margaret Sandra Ashley Emily Donna Michelle Emma Sophie Olivia
Amelia Charlotte Isabella Hannah Rebecca Catherine Rachel
""".split())))
_CAPITALISED = "[A-ZÅÄÖÜ][a-zåäöüé']+"

#: Patterns of personal data in any text (RE2 syntax, so DuckDB's ``regexp_matches`` runs them too).
#:
#: ``person_name`` is a common first name (:data:`FIRST_NAMES`, hyphenated ones too: Anna-Liisa)
#: followed by a capitalised word: "Anna Korhonen", "Mark Smith". It finds the name of a person
#: whose first name is on the list, written first name first with capitals; it does not see
#: "korhonen anna", "Korhonen, Anna", a surname alone, or first names off the list, and a shop or
#: place named after a person ("Maria Hamina" would be one) counts as a name. Columns whose values
#: are mostly capitalised word pairs, most of them distinct, are found by
#: :func:`name_like_column_sql` instead.
PATTERNS = {
    "email": r"[A-Za-z0-9._%+-]+@[A-Za-z0-9-]+(\.[A-Za-z0-9-]+)*\.[A-Za-z]{2,}",
    # international (+358 40 123 4567, 00358...) or a Finnish number with its area/operator code (040-1234567)
    "phone": r"(\+|00)[1-9][0-9][0-9 ()-]{6,}[0-9]|(^|[^0-9])0[1-9][0-9]?[ -][0-9][0-9 -]{4,}[0-9]",
    # Finnish personal identity code (henkilötunnus): DDMMYY, century sign, individual number, check mark
    "identity_code": r"(0[1-9]|[12][0-9]|3[01])(0[1-9]|1[0-2])[0-9]{2}[-+A-FU-Y][0-9]{3}[0-9A-FHJ-NPR-Y]",
    "person_name": r"\b(" + "|".join(FIRST_NAMES) + f")(-{_CAPITALISED})? +{_CAPITALISED}",
}
_COMPILED = {k: re.compile(v) for k, v in PATTERNS.items()}
_CHECK_MARKS = "0123456789ABCDEFHJKLMNPRSTUVWXY"


def is_identity_code(text: str) -> bool:
    """Whether ``text`` is a valid Finnish personal identity code (pattern and check mark).

    Example
    -------
    >>> is_identity_code("131052-308T"), is_identity_code("131052-308A")
    (True, False)
    """
    m = re.fullmatch(PATTERNS["identity_code"], text.strip().upper())
    return bool(m) and _CHECK_MARKS[int(text[:6] + text[7:10]) % 31] == text.strip().upper()[10]


def personal_values(text: str) -> list[tuple[str, str]]:
    """E-mail addresses, phone numbers and identity codes in ``text``, as ``(kind, value)``.

    Example
    -------
    >>> personal_values("mail anna@example.fi or call +358 40 123 4567; hetu 131052-308T")
    [('email', 'anna@example.fi'), ('phone', '+358 40 123 4567'), ('identity_code', '131052-308T')]
    """
    found = []
    for kind, rx in _COMPILED.items():
        for m in rx.finditer(text):
            value = m.group(0).strip().lstrip("()- ").strip() if kind == "phone" else m.group(0)
            if kind == "identity_code" and not is_identity_code(value):
                continue
            found.append((kind, value))
    return found


_KIND_WORDS = {"email": "an e-mail address", "phone": "a phone number", "identity_code": "an identity code",
               "person_name": "a person's name"}


def shown_value(value) -> str:
    """A value as a refusal quotes it: ``repr(value)``, or only what kind of personal data it holds.

    A refusal names the table, the column, the line and the value that broke the contract; when that
    value is an e-mail address, a phone number, an identity code or a person's name (an export whose
    columns slipped, a note in the wrong column), the message says which kind it is and where, never
    the value: refusals end up in schedulers' logs.

    Example
    -------
    >>> shown_value("12,5e"), shown_value("matti@example.fi"), shown_value("Matti Meikäläinen, 040 123 4567")
    ("'12,5e'", 'an e-mail address (not shown)', "a person's name (not shown)")
    >>> shown_value("010190-123A"), shown_value("2024-01-02 10:00"), shown_value(None)
    ('an identity code (not shown)', "'2024-01-02 10:00'", 'None')
    """
    text = "" if value is None else str(value)
    kinds = [k for k, _ in personal_values(text)]
    if _COMPILED["identity_code"].search(text.upper()):  # a mistyped check mark still identifies a person
        kinds.append("identity_code")
    if not kinds:
        return repr(value)
    kind = next(k for k in ("person_name", "identity_code", "email", "phone") if k in kinds)
    return f"{_KIND_WORDS[kind]} (not shown)"


def name_like_column_sql(column_sql: str, min_distinct: int = 20, min_share: float = 0.5) -> str:
    """A DuckDB aggregate that is true when a text column looks like a list of person names.

    The shape of a name column without knowing the names: at least ``min_share`` of its non-empty
    values are two to four capitalised words ("Xiao Wang", "Anna-Liisa Mäki-Korhonen"), at least
    ``min_distinct`` of those differ, and they are mostly distinct (as many distinct as half the
    rows holding them: people rarely share a full name, while a region or a channel repeats).
    Regions, channels and categories ("Itä-Suomi", "Koti & puutarha", "Web shop") repeat or are
    not word pairs; a column of product or shop names in word pairs would be taken for names.

    Parameters
    ----------
    column_sql : str
        The column as SQL, already quoted (``"region"``).

    Example
    -------
    >>> import duckdb
    >>> con = duckdb.connect()
    >>> names = [f"{f} {s}" for f in FIRST_NAMES[:8] for s in ("Virtanen", "Wang", "Smith")]
    >>> con.execute(f"SELECT {name_like_column_sql('v')} FROM unnest(?) AS t(v)", [names]).fetchone()[0]
    True
    >>> con.execute(f"SELECT {name_like_column_sql('v')} FROM unnest(?) AS t(v)", [["Uusimaa", "Itä-Suomi"] * 20]).fetchone()[0]
    False
    """
    shape = f"^{_CAPITALISED}(-{_CAPITALISED})?( {_CAPITALISED}(-{_CAPITALISED})?){{1,3}}$"
    named = f"regexp_full_match(trim({column_sql}), '{shape.replace(chr(39), chr(39) * 2)}')"
    return (f"(count(DISTINCT {column_sql}) FILTER (WHERE {named}) >= {int(min_distinct)} "
            f"AND count(*) FILTER (WHERE {named}) >= {float(min_share)} * count(*) FILTER (WHERE trim({column_sql}) <> '') "
            f"AND count(DISTINCT {column_sql}) FILTER (WHERE {named}) >= 0.5 * count(*) FILTER (WHERE {named}))")


# --- small groups in stakeholder tables ---------------------------------------------------------
#: Fewest customers a group may have for a stakeholder table to show its numbers (the *k* of
#: k-anonymity). A table row of a smaller group (but not an empty one) shows ``–`` instead of its
#: numbers and ``< 5`` as its count, so a group of one or two customers never shows what those
#: customers bought, are worth or did. Analysis results (the analyst's DataFrames) keep every row.
MIN_GROUP_SIZE = 5
SUPPRESSED = "–"


def suppress_small_groups(table: pd.DataFrame, counts, min_size: int = MIN_GROUP_SIZE, *,
                          keep: Iterable[str] = (), count_column: str | None = None) -> pd.DataFrame:
    """A stakeholder table with the numbers of groups smaller than ``min_size`` customers blanked.

    Parameters
    ----------
    table : DataFrame
        One row per group, numbers already formatted for the page.
    counts : array-like
        Customers in each row's group, in row order. Empty groups (0) keep their row: zeros tell
        nothing about anyone.
    min_size : int
        :data:`MIN_GROUP_SIZE` unless the report says otherwise.
    keep : iterable of str
        Columns that name the group and stay (``"Group"``).
    count_column : str, optional
        The column of customer counts: it shows ``< min_size`` rather than ``–``.

    Returns
    -------
    DataFrame
        A copy; ``attrs["suppressed_groups"]`` says how many rows were blanked (for the footnote)
        and ``attrs["min_group_size"]`` the threshold.

    Example
    -------
    >>> t = pd.DataFrame({"group": ["a", "b", "c"], "customers": ["120", "2", "0"], "revenue": ["€9,000", "€310", "€0"]})
    >>> suppress_small_groups(t, [120, 2, 0], keep=["group"], count_column="customers").to_dict("list")
    {'group': ['a', 'b', 'c'], 'customers': ['120', '< 5', '0'], 'revenue': ['€9,000', '–', '€0']}
    """
    counts = pd.to_numeric(pd.Series(list(counts)), errors="coerce").to_numpy(dtype=float)
    if len(counts) != len(table):
        raise ValueError(f"suppress_small_groups: {len(counts)} counts for a table of {len(table)} rows.")
    if int(min_size) < 1:
        raise ParameterError(f"min_group_size: got {min_size!r}, expected a whole number of customers >= 1.")
    small = (counts > 0) & (counts < int(min_size))
    out = table.copy()
    out.attrs.update(suppressed_groups=int(small.sum()), min_group_size=int(min_size))
    if small.any():
        keep = set(keep)
        rows = small.nonzero()[0]
        for j, column in enumerate(out.columns):
            if column not in keep:
                out[column] = out[column].astype(object)
                out.iloc[rows, j] = f"< {int(min_size)}" if column == count_column else SUPPRESSED
    return out


# --- pseudonyms -------------------------------------------------------------------------------
def pseudonym_key(key: str | None = None) -> bytes:
    """The key to use: the argument, else ``$KANTA_PSEUDONYM_KEY``, else the (public) demo key."""
    return (key or os.environ.get(KEY_VARIABLE) or DEMO_KEY).encode("utf-8")


def is_demo_data(path) -> bool:
    """Whether ``path`` (a source folder or a file in one) is Kanta's synthetic demo data.

    The demo generator writes ``truth.json`` beside the tables; its description names the demo.
    A database URL is never demo data.
    """
    if path is None or "://" in str(path):
        return False
    p = Path(path)
    folder = p if p.is_dir() else p.parent
    try:
        truth = json.loads((folder / "truth.json").read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return False
    return isinstance(truth, dict) and "Kanta demo" in str(truth.get("description", "")) and "seed" in truth


def pseudonym_key_kind(data_path=None) -> str:
    """Which pseudonym key stakeholder pages would use: ``"secret"`` or ``"demo"`` (for the manifest).

    With ``KANTA_PSEUDONYM_KEY`` unset, empty or equal to the public demo key, pseudonyms can be
    reversed by anyone holding the ID list (a Finnish identity code as ID falls in a minute), so
    pages may be rendered only from the demo data (:func:`is_demo_data`).

    Raises
    ------
    ParameterError
        No secret key and the data are not the demo data.

    Example
    -------
    >>> pseudonym_key_kind("data/sample")  # doctest: +SKIP
    'demo'
    """
    key = os.environ.get(KEY_VARIABLE, "")
    if key.strip() and key != DEMO_KEY:
        return "secret"
    if is_demo_data(data_path):
        return "demo"
    state = "is the public demo key" if key == DEMO_KEY else "is empty" if key else "is not set"
    raise ParameterError(f"{KEY_VARIABLE} {state}, so pseudonyms on stakeholder pages could be reversed; "
                         f"set it to a long random secret (e.g. the output of `openssl rand -hex 32`) "
                         f"before reporting on real data.")


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
    index = ids.index if isinstance(ids, pd.Series) else None
    # HMAC-SHA256 (RFC 2104) of every ID at once in DuckDB: sha256((key ^ opad) || sha256((key ^ ipad) || id)),
    # the key padded to the hash's 64-byte block; equal to Python's hmac (tested), without a loop per customer
    if len(k) > 64:
        k = hashlib.sha256(k).digest()
    k = k.ljust(64, b"\0")
    inner, outer = bytes(b ^ 0x36 for b in k), bytes(b ^ 0x5C for b in k)
    frame = pd.DataFrame({"v": pd.Series(ids if index is None else ids.to_numpy(), dtype=object).astype(str)})  # noqa: F841 (DuckDB reads it by name)
    digests = duckdb.connect().execute(
        "SELECT left(sha256(?::BLOB || unhex(sha256(?::BLOB || encode(v)))), ?) AS h FROM frame",
        [outer, inner, int(length)]).df()["h"]
    return pd.Series((PREFIX + digests).to_numpy(), index=index, dtype="object", name="pseudonym")
