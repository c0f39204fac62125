"""Small shared helpers: graph-mode guard, the default float dtype, argument
checks.  Nothing here knows about layers."""
import numbers

import numpy as np

from tf1_wn import validation
from tf1_wn._tf import tf

_FLOATX = {"dtype": tf.float32}

_ALLOWED_FLOATX = (tf.float16, tf.float32, tf.float64)


def get_floatX():
    """The dtype `InputLayer` uses when it gets no ``dtype`` (Theano's floatX).

    Returns:
      A `tf.DType`, ``tf.float32`` unless changed with `set_floatX`.
    """
    return _FLOATX["dtype"]


def set_floatX(dtype):
    """Sets the default dtype of new `InputLayer`s, like ``THEANO_FLAGS=floatX``.

    Layers take the dtype of their input layer, so this decides the dtype of
    every parameter built afterwards on such an input.

    Args:
      dtype: ``'float32'``, ``'float64'``, ``'float16'`` or a matching
        `tf.DType` / NumPy dtype.

    Returns:
      The previous default, so a caller can restore it.

    Raises:
      ValueError: for any other dtype.
    """
    new = as_float_dtype(dtype, "dtype")
    old = _FLOATX["dtype"]
    _FLOATX["dtype"] = new
    return old


def as_float_dtype(dtype, arg_name):
    """Converts `dtype` to a floating `tf.DType` or raises ValueError."""
    try:
        result = tf.as_dtype(dtype)
    except TypeError:
        result = None
    if result not in _ALLOWED_FLOATX:
        raise ValueError(
            "%s must be one of float16, float32, float64; got %r"
            % (arg_name, dtype))
    return result


def require_graph_mode(what):
    """Raises RuntimeError when eager execution is active.

    Args:
      what: the name of the caller, used in the message.

    Raises:
      RuntimeError: when `tf.executing_eagerly()` is True.
    """
    validation.assert_graph_mode(what)


def as_tuple(value, n, arg_name, allow_zero=False):
    """Lasagne's ``as_tuple`` with a clear error: an int or an n-sequence of
    positive ints (non-negative if `allow_zero`).

    Raises:
      ValueError: naming `arg_name` and the value on a bad argument.
    """
    if isinstance(value, (numbers.Integral, np.integer)) and not isinstance(
            value, bool):
        items = (int(value),) * n
    else:
        try:
            items = tuple(value)
        except TypeError:
            items = None
        if (items is None or len(items) != n or not all(
                isinstance(i, (numbers.Integral, np.integer))
                and not isinstance(i, bool) for i in items)):
            raise ValueError("%s must be an int or a sequence of %d ints; got %r"
                             % (arg_name, n, value))
        items = tuple(int(i) for i in items)
    lowest = 0 if allow_zero else 1
    if any(i < lowest for i in items):
        raise ValueError("%s must be %s; got %r" % (
            arg_name, "non-negative" if allow_zero else "positive", value))
    return items


def check_positive_int(value, arg_name):
    """Returns `value` as int, or raises ValueError naming the argument."""
    if (not isinstance(value, (numbers.Integral, np.integer))
            or isinstance(value, bool) or value < 1):
        raise ValueError("%s must be a positive int; got %r" % (arg_name, value))
    return int(value)


def check_callable(value, arg_name):
    """Raises TypeError unless `value` is callable."""
    if not callable(value):
        raise TypeError("%s must be callable; got %r" % (arg_name, value))
    return value


class IdentitySet(object):
    """A set of objects compared by identity.

    TF2 tensors and variables overload ``==`` elementwise, so ``x in list``
    and plain sets are unsafe for them."""

    def __init__(self):
        self._ids = set()

    def add(self, item):
        self._ids.add(id(item))

    def __contains__(self, item):
        return id(item) in self._ids


# tf.compat.v1.Variable is VariableV1, which TF2's ResourceVariable does not
# subclass; accept both.
VARIABLE_TYPES = (tf.Variable, tf.compat.v2.Variable)


def is_variable(value):
    """True for any TF variable (ref or resource)."""
    return isinstance(value, VARIABLE_TYPES)
