"""The package's own exceptions: one clear sentence for the user, no traceback.

The CLI catches :class:`KantaError`, prints its message and exits with code 2.
"""


class KantaError(Exception):
    """An error the user can fix: the message says what was found and what was expected."""

    exit_code = 2


class DataError(KantaError):
    """The input data breaks the data contract (missing table, bad column, bad rows)."""


class ModelError(KantaError):
    """A model could not be fitted or its assumptions do not hold for this data."""


class ParameterError(KantaError):
    """A parameter given by the user is unknown or out of range."""
