"""The error tree of tf1-wn.

Every error the library raises on purpose that is not a plain argument
check derives from `Error`, and each also derives from the builtin class
callers caught before the tree existed, so ``except RuntimeError`` and
``except ValueError`` keep working::

    Error
    +-- NotConnectedError   (RuntimeError)  a layer object used before its
    |                                       first call
    +-- LayoutError         (ValueError)    a kernel kind does not fit a
    |                                       kernel's shape
    +-- CheckpointError     (ValueError)    a checkpoint cannot be read,
    |                                       planned or written; the
    |                                       subclasses live in
    |                                       `tf1_wn.checkpoint`
    +-- NativeOpsError      (RuntimeError)  the native kernels cannot be
    |                                       built or loaded
    +-- CellDtypeError      (TypeError and  a recurrent cell given a
    |                        ValueError)    non-float dtype (TF1's cells
    |                                       raise ValueError, tf1-wn's
    |                                       raised TypeError)
    +-- TowerMismatchError  (ValueError)    towers built by
                                            `tf1_wn.build_towers` reach
                                            different data-init layers

Bad arguments raise the builtin ValueError or TypeError, naming the
argument, the value and what is expected.  Messages follow one style: what
is wrong (the argument or file and its value), what was expected, and the
fix when there is one.
"""


class Error(Exception):
    """Base class of the errors tf1-wn raises on purpose."""


class NotConnectedError(Error, RuntimeError):
    """A layer object's variables were asked for before its first call."""


class LayoutError(Error, ValueError):
    """A kernel kind does not fit a kernel's shape, or is unknown."""


class CheckpointError(Error, ValueError):
    """A checkpoint cannot be read, planned or written."""


class NativeOpsError(Error, RuntimeError):
    """The native kernels could not be built or loaded."""


__all__ = ["Error", "NotConnectedError", "LayoutError", "CheckpointError",
           "NativeOpsError", "CellDtypeError", "TowerMismatchError"]


class CellDtypeError(Error, TypeError, ValueError):
    """A recurrent cell was given a dtype it does not support."""


class TowerMismatchError(Error, ValueError):
    """Towers built together initialize different layers, or in a
    different order, so their statistics cannot be combined."""
