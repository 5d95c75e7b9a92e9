"""Errors that RestoreLab reports to the user as one clear message instead of a traceback."""


class RestoreLabError(Exception):
    """Base of the errors whose message says what went wrong and what to do."""


class DataError(RestoreLabError):
    """Missing, unreadable or unusable data; the message names the path and the fix."""


class NonFiniteLossError(RestoreLabError, RuntimeError):
    """The training loss became NaN or infinite; checkpoints on disk are untouched."""
