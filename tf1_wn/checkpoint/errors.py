"""Errors and warnings of the checkpoint tools (`tf1_wn.checkpoint`).

Every error derives from `CheckpointError` (a `tf1_wn.Error` and a
`ValueError`), so callers and the `tf1-wn` command line catch one class; the
command line turns it into exit status 1.
"""
from tf1_wn.errors import CheckpointError, LayoutError


class CheckpointNotFoundError(CheckpointError, FileNotFoundError):
    """The input checkpoint does not exist."""


class OutputExistsError(CheckpointError, FileExistsError):
    """The output checkpoint exists and overwriting was not allowed."""


class AmbiguousLayoutError(CheckpointError):
    """A kernel's layout cannot be told from its name and shape."""


class NameCollisionError(CheckpointError):
    """Two variables of the result would get the same name."""


class UnsupportedVariableError(CheckpointError):
    """A variable's layer has no tf1_wn counterpart (e.g. a separable conv)."""


class CheckpointWarning(UserWarning):
    """Something was dropped or left unchanged on purpose (see the plan)."""


class InvalidLayoutError(CheckpointError, LayoutError):
    """A layout hint or a variable's shape does not fit the kernel kind."""


__all__ = ["CheckpointError", "CheckpointNotFoundError", "OutputExistsError",
           "AmbiguousLayoutError", "NameCollisionError",
           "UnsupportedVariableError", "CheckpointWarning",
           "InvalidLayoutError"]
