"""The privacy check of rendered pages: no names, e-mails, phone numbers, identity codes or raw customer IDs.

Run on every page before publishing; a hit fails the report. The input's personal data is found by
column name (English and Finnish) and by value (e-mail, phone and identity-code patterns in any text
column, person names by a list of common first names); any e-mail address or valid Finnish identity
code on a page is a hit whatever its source. Customer lists on stakeholder pages use pseudonyms
(``analysis.data.privacy.pseudonymize``), which pass; tables of groups blank groups smaller than
``analysis.data.privacy.MIN_GROUP_SIZE`` and say so (:func:`show_group_table`).
"""
from __future__ import annotations

import html
import re
from html.parser import HTMLParser
from pathlib import Path
from typing import Mapping

from analysis.data import privacy
from analysis.data import PII_COLUMNS as DATA_PII_COLUMNS
from analysis.errors import KantaError
from analysis.report.display import say, show_table
from analysis.report.text import Text


class PrivacyError(KantaError):
    """A rendered page contains personal data from the input (names, e-mails, phones, raw IDs)."""

    exit_code = 1


#: Columns of the customers table holding personal data: the data contract's list and common variants.
PII_COLUMNS = frozenset(DATA_PII_COLUMNS) | {"full_name", "e_mail", "phone_number", "mobile"}
_TOKEN_RE = re.compile(r"[\w@.+'-]+", re.UNICODE)
_DATA_URI_RE = re.compile(r"data:[\w/+.-]+;base64,[A-Za-z0-9+/=]+")

#: Elements whose content a reader never sees as text (a style sheet's numbers are no customer IDs).
_UNSHOWN_ELEMENTS = frozenset({"style"})
#: Attributes a reader sees (tooltips, alt text, labels read aloud, form hints).
_SHOWN_ATTRIBUTES = frozenset({"alt", "title", "aria-label", "aria-description", "placeholder", "label"})
#: Inline elements: text on both sides of their tags reads as one word (``C000<b>123</b>`` is ``C000123``).
_INLINE_ELEMENTS = frozenset({"a", "abbr", "b", "bdi", "bdo", "cite", "code", "data", "dfn", "em", "font", "i",
                              "kbd", "mark", "q", "s", "samp", "small", "span", "strong", "sub", "sup", "time",
                              "u", "var", "wbr"})


class _TextCollector(HTMLParser):
    """A page's text as a reader meets it: text nodes, shown attribute values, ``mailto:``/``tel:`` targets
    and comments (published bytes, one "view source" away); style sheets and embedded images left out."""

    def __init__(self):
        super().__init__(convert_charrefs=True)
        self.parts: list[str] = []
        self._unshown = 0

    def _attributes(self, tag: str, attrs) -> None:
        for name, value in attrs:
            if value is None:
                continue
            if name in _SHOWN_ATTRIBUTES or (name in ("href", "src") and value.strip().lower().startswith(("mailto:", "tel:"))):
                self.parts.append(f" {value.split(':', 1)[1] if name in ('href', 'src') else value} ")

    def handle_starttag(self, tag, attrs):
        if tag in _UNSHOWN_ELEMENTS:
            self._unshown += 1
        self._attributes(tag, attrs)
        if tag not in _INLINE_ELEMENTS:
            self.parts.append(" ")

    def handle_startendtag(self, tag, attrs):
        self._attributes(tag, attrs)
        if tag not in _INLINE_ELEMENTS:
            self.parts.append(" ")

    def handle_endtag(self, tag):
        if tag in _UNSHOWN_ELEMENTS and self._unshown:
            self._unshown -= 1
        if tag not in _INLINE_ELEMENTS:
            self.parts.append(" ")

    def handle_data(self, data):
        if not self._unshown:
            self.parts.append(data)

    def handle_comment(self, data):
        self.parts.append(f" {data} ")


def visible_text(html_text: str) -> str:
    """The text of an HTML page a reader can meet, for the privacy check (an HTML parser, not patterns).

    Text nodes (character references decoded, inline tags joining their neighbours), the shown attributes
    (``alt``, ``title``, ``aria-label`` ...), ``mailto:`` and ``tel:`` link targets, script text and comments;
    style sheets and embedded images are left out.

    Example
    -------
    >>> " ".join(visible_text("<p>C000<b>123</b> <img alt='C9' src='data:image/png;base64,AAA='></p>").split())
    'C000123 C9'
    """
    parser = _TextCollector()
    parser.feed(html_text)
    parser.close()
    return "".join(parser.parts)


def _kind_of_column(name: str) -> str:
    c = privacy.normalise_column_name(name)
    if "mail" in c or "sahkoposti" in c or "sposti" in c:
        return "email"
    if any(w in c for w in ("phone", "puhelin", "mobile", "gsm", "kannykka")) or c == "puh":
        return "phone"
    return "name" if ("name" in c or "nimi" in c) else "other"


def pii_values(source) -> dict[str, set[str]]:
    """Raw customer IDs and personal data of the input, by kind, for :func:`find_pii`.

    Columns named as personal data give all their values; other text columns where the loader
    found e-mail addresses, phone numbers or identity codes (``source.personal_columns``) give the
    values that match those patterns.
    """
    values: dict[str, set[str]] = {"customer_id": set(), "name": set(), "email": set(), "phone": set(), "other": set()}
    ids = source.sql("select distinct cast(customer_id as varchar) as id from transactions")["id"]
    values["customer_id"].update(ids.dropna().astype(str))
    if source.has("customers"):
        cust = source.customers()
        values["customer_id"].update(cust["customer_id"].dropna().astype(str))
        by_value = getattr(source, "personal_columns", {})
        for col in cust.columns:
            if col.lower() in PII_COLUMNS or privacy.is_personal_column(col):
                kind = _kind_of_column(col)
                values[kind].update(v.strip() for v in cust[col].dropna().astype(str) if v.strip())
            elif by_value.get(col) == "name_like":  # shaped like a column of names: every value is one
                values["name"].update(v.strip() for v in cust[col].dropna().astype(str) if v.strip())
            elif col in by_value:
                for v in cust[col].dropna().astype(str):
                    for kind, found in privacy.personal_values(v):
                        values[_VALUE_KINDS.get(kind, kind)].add(found)
    return values


_VALUE_KINDS = {"identity_code": "other", "person_name": "name"}


def _digits(s: str) -> str:
    return re.sub(r"\D", "", s)


class _Lookup:
    """The input's personal values arranged for lookups by a page's words (built once per run)."""

    def __init__(self, values: Mapping[str, set]):
        self.ids = {v for v in values["customer_id"] if len(v) >= 3}  # "12" is an everyday number, not evidence
        self.emails = {}
        for v in sorted(values["email"]):
            self.emails.setdefault(v.lower(), v)
        self.phones = {d for d in (_digits(v) for v in values["phone"]) if len(d) >= 7}
        self.names: dict[str, list[tuple[str, str]]] = {}  # first word -> (phrase, name as given)
        for name in sorted(values["name"] | values["other"]):
            parts = name.lower().split()
            if parts:
                self.names.setdefault(parts[0], []).append((" ".join(parts), name))


def find_pii(html_text: str, source) -> list[str]:
    """Personal data from the input that appears in a rendered page (empty list = clean).

    Looks for raw customer IDs, names, e-mail addresses and phone numbers of the input's
    customers in the page's visible text (tags, style sheets and embedded images removed).
    IDs are matched as whole words, so ``C000123`` does not match inside a pseudonym. The page's
    words are looked up in the input's values (not the other way round), so a check costs the
    page's length, not the number of customers.

    Example
    -------
    >>> find_pii("<p>K-3fa9c02d1e</p>", src)  # doctest: +SKIP
    []
    """
    if isinstance(source, _Lookup):
        lookup = source
    else:
        lookup = _Lookup(pii_values(source) if not isinstance(source, Mapping) else source)
    text = visible_text(html_text)
    tokens = {t.strip(".'-+") for t in _TOKEN_RE.findall(text)}
    lowered = {t.lower() for t in tokens}
    found = [f"customer_id {v}" for v in sorted(tokens & lookup.ids)]
    found += [f"email {lookup.emails[v]}" for v in sorted(lowered & lookup.emails.keys())]
    if lookup.phones:
        text_digits = {_digits(m) for m in re.findall(r"\+?\d[\d \u00a0()-]{5,}\d", text)}
        found += [f"phone {p}" for p in sorted(lookup.phones & text_digits)]
    # whatever the input: an e-mail address or a valid identity code on a stakeholder page is personal data
    # (phone numbers and first-name pairs have everyday look-alikes on a page: only the input's are sought)
    found += [f"{kind} {v}" for kind, v in privacy.personal_values(text) if kind not in ("phone", "person_name")
              and f"{kind} {v}" not in found and not (kind == "email" and v.lower() in lookup.emails)]
    lowered_text = " ".join(text.lower().split())
    named = sorted({name for word in lowered & lookup.names.keys() for phrase, name in lookup.names[word]
                    if all(p in lowered for p in phrase.split()) and phrase in lowered_text})
    found += [f"name {name}" for name in named]
    found += [hit for hit in raw_ids_beyond_words(html_text, text, lookup) if hit not in found]
    return found


# attributes a reader sees or follows (tooltips, alt texts, links, labels): style, class and sizes are left alone
_ATTRIBUTE_PREFIXES = ("title", "alt", "href", "src", "aria-label", "aria-description", "placeholder", "value",
                     "label", "summary", "content", "data-")


class _Attributes(HTMLParser):
    def __init__(self):
        super().__init__(convert_charrefs=True)
        self.values: list[str] = []

    def handle_starttag(self, tag, attrs):
        self.values += [v for k, v in attrs if v and k.startswith(_ATTRIBUTE_PREFIXES) and not v.startswith("data:")]


def raw_ids_beyond_words(html_text: str, text: str, lookup: "_Lookup") -> list[str]:
    """Raw IDs the word lookup of :func:`find_pii` cannot see: in attribute values, and IDs of several words.

    An ID may sit in a tooltip, an alt text or a ``mailto:`` link, and an e-mail address or a Finnish
    identity code there is a hit whatever its source (as in the text). An ID written with spaces
    (``+358 40 123 4567`` as a customer number) is not one word: it is found as a phrase of the
    page's text (``text``, already without tags), looked up by its first word.
    """
    parser = _Attributes()
    parser.feed(_DATA_URI_RE.sub(" ", html_text))
    shown = " ".join(parser.values)
    shown = html.unescape(shown.replace("mailto:", " "))
    found = [f"customer_id {v}" for v in sorted({t.strip(".'-+") for t in _TOKEN_RE.findall(shown)} & lookup.ids)]
    found += [f"{kind} {v}" for kind, v in privacy.personal_values(shown) if kind in ("email", "identity_code")]
    phrases = getattr(lookup, "_phrases", None)
    if phrases is None:  # built once per lookup: IDs that are more than one word, by their first word
        phrases = {}
        for v in lookup.ids:
            words = [w.strip(".'-+") for w in _TOKEN_RE.findall(v)]
            if len(words) > 1 and words[0]:
                phrases.setdefault(words[0], []).append(" ".join(v.split()))
        lookup._phrases = phrases
    if phrases:
        both = " ".join((text + " " + shown).replace("\u00a0", " ").split())
        words = {t.strip(".'-+") for t in _TOKEN_RE.findall(both)}
        found += [f"customer_id {v}" for w in sorted(words & phrases.keys()) for v in phrases[w] if v in both]
    return list(dict.fromkeys(found))


def check_privacy(pages: Mapping[str, str], pii: dict, failed_dir: Path) -> None:
    lookup = _Lookup(pii)
    for name, text in pages.items():
        leaked = find_pii(text, lookup)
        if leaked:
            failed_dir.mkdir(parents=True, exist_ok=True)
            (failed_dir / name).write_text(text, encoding="utf-8")
            raise PrivacyError(f"{name} would show personal data from the input ({len(leaked)} value(s), "
                               f"e.g. {leaked[0].split()[0]}); nothing was published and the page is kept in "
                               f"{failed_dir / name} for checking.")


def show_group_table(table, caption: str | None = None, language: str = "en", index: bool = False) -> None:
    """Show a table of groups (:func:`analysis.data.privacy.suppress_small_groups`) and, when groups were
    blanked, the footnote that says why."""

    show_table(table, caption, index=index)
    if table.attrs.get("suppressed_groups"):
        say(Text("common", language)("small_groups_note", k=table.attrs["min_group_size"]))
