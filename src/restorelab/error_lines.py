"""One line for an expected error: what `restorelab train` and the other commands print instead
of a traceback, naming the error that matters rather than Hydra's wrapping of it."""

from __future__ import annotations


def one_line(error: BaseException) -> str:
    """`Type: message` of the error that matters: Hydra's InstantiationException wraps the
    constructor's own error (a ValueError naming the bad argument) in a paragraph of context."""
    from hydra.errors import InstantiationException

    cause = error
    while isinstance(cause, InstantiationException) and cause.__cause__ is not None:
        cause = cause.__cause__
    if isinstance(cause, InstantiationException):  # no cause: keep Hydra's last line
        lines = [line for line in str(cause).strip().splitlines() if line.strip()]
        message = lines[-1].strip() if lines else "could not instantiate the config"
    else:
        message = " ".join(str(cause).split()) or type(cause).__name__
    target = _target_of(error)
    where = f" (building {target})" if target and target not in message else ""
    return f"{type(cause).__name__}: {message}{where}; set HYDRA_FULL_ERROR=1 for the traceback"


def _target_of(error: BaseException) -> str | None:
    text = str(error)
    marker = "Error in call to target '"
    if marker in text:
        return text.split(marker, 1)[1].split("'", 1)[0]
    return None
