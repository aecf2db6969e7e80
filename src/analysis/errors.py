"""The package's own exceptions: one clear sentence for the user, no traceback.

The CLI catches :class:`KantaError`, prints its message and exits with code 2.
"""


class KantaError(Exception):
    """An error the user can fix: the message says what was found and what was expected."""

    exit_code = 2


class DataError(KantaError):
    """The input data breaks the data contract (missing table, bad column, bad rows)."""


class ModelError(KantaError):
    """A model could not be fitted or its assumptions do not hold for this (valid) data.

    ``reason`` is a stable code and ``facts`` the numbers behind it, so the report can say it
    in the reader's language (:class:`analysis.findings.Finding`); the message is for logs.
    In the monthly report this degrades one page (exit code 3); alone, a command exits with 2.
    """

    def __init__(self, message: str, reason: str = "not_estimable", facts: dict | None = None):
        super().__init__(message)
        self.reason = reason
        self.facts = dict(facts or {})


class ParameterError(KantaError):
    """A parameter given by the user is unknown or out of range."""


class OutputError(KantaError):
    """An output cannot be written (read-only or full disk, no permission, a name too long): nothing was written."""


class NotFittedError(KantaError, AttributeError):
    """A model was used before ``fit``: a mistake in the calling code, not in the data (exit code 1)."""

    exit_code = 1
