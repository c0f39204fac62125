"""Small shared helpers: the default float dtype (Theano's floatX), identity
sets, the variable test and the NCHW op runner.  Nothing here knows about
layers; argument checks are the core's (`tf1_wn.validation`)."""
from tf1_wn import placement
from tf1_wn import validation
from tf1_wn._tf import tf


def per_axis(data_format, spatial, fill):
    """`spatial` values spread over a 4-D `data_format`'s axes."""
    if data_format == "NCHW":
        return [fill, fill] + list(spatial)
    return [fill] + list(spatial) + [fill]


def run_nchw(x, build):
    """``build(x, data_format)`` on an NCHW `x`, returning NCHW.

    A layer placed on a GPU runs the op in NCHW as given.  TensorFlow's
    CPU kernels lack NCHW for several ops and gradients, so elsewhere the
    op runs in NHWC between two transposes.
    """
    if placement.runs_on_gpu():
        return build(x, "NCHW")
    out = build(tf.transpose(x, [0, 2, 3, 1]), "NHWC")
    return tf.transpose(out, [0, 3, 1, 2])


_FLOATX = {"dtype": tf.float32}

#: Theano has no bfloat16, so neither has the mirror.
_ALLOWED_FLOATX = tuple(dtype for dtype in validation.FLOAT_DTYPES
                        if dtype != tf.bfloat16)


def get_floatX():
    """The dtype `InputLayer` uses when it gets no ``dtype`` (Theano's floatX).

    Returns:
      A `tf.DType`, ``tf.float32`` unless changed with `set_floatX`.
    """
    return _FLOATX["dtype"]


def set_floatX(dtype):
    """Sets the default dtype of new `InputLayer`s (Theano's ``floatX``).

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


class IdentitySet:
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
