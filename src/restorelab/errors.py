"""Errors that RestoreLab reports to the user as one clear message instead of a traceback."""


class RestoreLabError(Exception):
    """Base of the errors whose message says what went wrong and what to do."""


class DataError(RestoreLabError):
    """Missing, unreadable or unusable data; the message names the path and the fix."""


class NonFiniteLossError(RestoreLabError, RuntimeError):
    """The training loss became NaN or infinite; checkpoints on disk are untouched."""


class ConfigError(RestoreLabError, ValueError):
    """A config value that cannot work; the message names the key and what to set instead."""


class TrainingInterrupted(RestoreLabError):
    """A signal (SIGTERM, Ctrl-C) stopped the run after its state was saved.

    `exit_code` is the status the process should end with: 128 + the signal's number.
    """

    def __init__(self, message: str, exit_code: int) -> None:
        super().__init__(message)
        self.exit_code = exit_code
