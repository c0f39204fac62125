"""``lasagne.utils``: `floatX` and `as_tuple` as the scripts call them."""
import numpy as np

from tf1_wn.compat.lasagne._graph import get_floatX


def floatX(arr):
    """`arr` as a NumPy array of the default float dtype (Theano's
    ``floatX``; see `set_floatX`)."""
    return np.asarray(arr, dtype=get_floatX().as_numpy_dtype)


def as_tuple(x, N, t=None):
    """`x` as a tuple of length `N`: an iterable as it is, a single value
    repeated.

    Raises:
      TypeError: `t` given and an entry is not an instance of it.
      ValueError: an iterable of another length.
    """
    try:
        items = tuple(x)
    except TypeError:
        items = (x,) * N
    if t is not None and not all(isinstance(item, t) for item in items):
        raise TypeError(f"expected a single value or an iterable of "
                        f"{t.__name__}, got {x!r}")
    if len(items) != N:
        raise ValueError(f"expected a single value or an iterable with "
                         f"length {N}, got {x!r}")
    return items


__all__ = ["floatX", "as_tuple"]
