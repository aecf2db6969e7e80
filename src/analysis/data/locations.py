"""Where a source is: a folder or file path, or a database URL whose text never holds the password.

The password given in a URL is kept apart, for connecting only, and handed to child processes as ``PGPASSWORD``.
"""
from __future__ import annotations

import os
from pathlib import Path
from urllib.parse import parse_qsl, quote, unquote, urlencode, urlsplit

from analysis.errors import ParameterError

SCHEMES = ("postgresql://", "postgres://")
#: Passwords this process was given in URLs, by the URL's shown text (never written anywhere): a
#: child process that reads the same source (a report notebook) gets it as ``PGPASSWORD``
#: (:func:`child_environment`), never in a parameter.
_PASSWORDS: dict[str, str] = {}


def is_database_url(value) -> bool:
    """Whether a source argument is a database URL rather than a file or folder.

    Example
    -------
    >>> is_database_url("postgresql://kanta@db.example.com/crm"), is_database_url("data/sample")
    (True, False)
    """
    return isinstance(value, str) and value.lower().startswith(SCHEMES)


def _url(scheme: str, netloc: str, path: str, query: str) -> str:
    """A URL from its parts, keeping ``//`` when the host is empty (``postgresql:///crm?host=/run/pg``)."""
    return f"{scheme}://{netloc}{path}" + (f"?{query}" if query else "")


class DatabaseURL(str):
    """A database URL whose text never holds the password (it is kept apart, for connecting only).

    The text is what messages, ``Source.path``, manifests and notebook parameters show; the
    password given in the URL (``user:secret@``) or its query (``?password=``) is not part of it and
    is not pickled. Without a password in the URL, libpq reads ``PGPASSWORD`` or ``~/.pgpass``.

    Example
    -------
    >>> url = DatabaseURL("postgresql://kanta:s3cret@db.example.com:5432/crm?schema=sales")
    >>> str(url), url.schema
    ('postgresql://kanta@db.example.com:5432/crm?schema=sales', 'sales')
    >>> "s3cret" in repr(url) + str(url)
    False
    """

    def __new__(cls, url: str):
        if isinstance(url, DatabaseURL):
            return url
        text = str(url).strip()
        scheme, sep, rest = text.partition("://")
        if scheme.lower() not in ("postgresql", "postgres") or not sep:
            raise ParameterError(f"source: {scheme}:// URLs are not supported; expected postgresql://.")
        # The user information ends at the last "@" before the host: a password with an unencoded "#", "/", "?"
        # or "@" would otherwise end the host part early and be shown as host, path or fragment.
        userinfo, at, hostpart = rest.rpartition("@")
        parts = urlsplit(f"{scheme}://{hostpart}")
        user, colon, password = userinfo.partition(":")
        query = parse_qsl(parts.query, keep_blank_values=True)  # decodes the query's values once
        schema = next((v for k, v in query if k == "schema"), None)
        password = next((v for k, v in query if k == "password"), unquote(password) if colon else None)
        shown_query = urlencode([(k, v) for k, v in query if k != "password"], safe="/")
        shown = _url(parts.scheme, f"{user}{at}{parts.netloc}", parts.path, shown_query)
        self = super().__new__(cls, shown)
        self.schema = schema or None
        self._password = password or None  # decoded, once: libpq, PGPASSWORD and the notebooks get the same
        self._given = {p for p in (rest[len(user) + 1:len(userinfo)] if colon else None, self._password) if p}
        if self._password:
            _PASSWORDS[shown] = self._password
        credentials = f"{user}:{quote(self._password, safe='')}@" if self._password else f"{user}{at}"
        self._connect = _url(parts.scheme, f"{credentials}{parts.netloc}", parts.path,
                             urlencode([(k, v) for k, v in query if k not in ("schema", "password")]))
        return self

    def __repr__(self) -> str:
        return f"DatabaseURL({str(self)!r})"

    def __reduce__(self):  # pickles (saved customer bases, notebook parameters) never carry the password
        return DatabaseURL, (str(self),)

    def mask(self, text: str) -> str:
        """``text`` with the password (as given, percent-encoded, or from ``PGPASSWORD``) replaced by ``***``."""
        text = str(text)
        given = getattr(self, "_given", set())
        for password in sorted({self._password, os.environ.get("PGPASSWORD"), *given} - {None, ""}, key=len,
                               reverse=True):
            for form in sorted({password, quote(password, safe=""), quote(password)}, key=len, reverse=True):
                text = text.replace(form, "***")
        return text


def child_environment(source) -> dict[str, str]:
    """Environment variables a child process needs to read ``source`` as this process does.

    A report notebook runs in its own process and receives the source as text, which never holds
    the password (:class:`DatabaseURL`); when this process was given the URL with a password, the
    child gets it as ``PGPASSWORD``, which libpq reads when the URL has none. Empty for files,
    folders and URLs given without a password (the child then inherits ``PG*`` and ``~/.pgpass``).

    Example
    -------
    >>> url = DatabaseURL("postgresql://kanta:s3cret@db.example.com/crm")
    >>> child_environment(str(url)), child_environment("data/sample")
    ({'PGPASSWORD': 's3cret'}, {})
    """
    if not is_database_url(source):
        return {}
    password = source._password if isinstance(source, DatabaseURL) else _PASSWORDS.get(str(DatabaseURL(source)))
    return {"PGPASSWORD": password} if password else {}


def location(value):
    """A source argument as it is passed on: a :class:`DatabaseURL`, else an absolute :class:`~pathlib.Path`."""
    return DatabaseURL(value) if is_database_url(value) else Path(value).resolve()

