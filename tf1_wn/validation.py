"""Argument checks shared by every builder.

Each check raises with the argument's name, the offending value and what was
expected, so a user sees at once which call to fix.
"""
import numbers

from tf1_wn._tf import tf

#: The dtypes layers, cells and the math accept.
FLOAT_DTYPES = (tf.float16, tf.bfloat16, tf.float32, tf.float64)

#: The dtypes whose norms and statistics are computed in float32.
LOW_PRECISION_DTYPES = (tf.float16, tf.bfloat16)


def dtype_names(dtypes=FLOAT_DTYPES):
    """``'float16, bfloat16, float32, float64'``, for messages."""
    return ", ".join(dtype.name for dtype in dtypes)


def shape_text(shape):
    """A static shape as messages print it, ``(None, 3)``, with the same
    text under TF1's ``disable_v2_tensorshape`` (which would print ``?``).

    Args:
      shape: a `tf.TensorShape` or anything it accepts.

    Returns:
      The text, ``<unknown>`` for an unknown rank.
    """
    shape = tf.TensorShape(shape)
    if shape.ndims is None:
        return "<unknown>"
    return str(tuple(shape.as_list()))


def assert_graph_mode(what):
    """Raises RuntimeError when eager execution is active.

    Args:
      what: name of the builder, for the message.

    Raises:
      RuntimeError: if eager execution is active.
    """
    if tf.executing_eagerly():
        raise RuntimeError(
            f"{what} builds TF1 graph ops and cannot run eagerly. Call "
            "tf.compat.v1.disable_eager_execution() at program start, or "
            "build inside `with tf.Graph().as_default():` and run "
            "the result with a tf.compat.v1.Session.")


def check_float_tensor(name, value):
    """Converts `value` to a tensor and checks it has a float dtype.

    Args:
      name: argument name, for messages.
      value: a tensor or something convertible to one.

    Returns:
      The tensor.

    Raises:
      TypeError: if the dtype is not float16, bfloat16, float32 or float64.
    """
    tensor = tf.convert_to_tensor(value)
    if tensor.dtype.base_dtype not in FLOAT_DTYPES:
        raise TypeError(
            f"`{name}` must have a floating dtype ({dtype_names()}), got "
            f"{tensor.dtype.name} for {tensor.name}. Cast it first, e.g. "
            "tf.cast(x, tf.float32).")
    return tensor


def float_dtype_or_none(name, value):
    """`value` as a float `tf.DType`, or None.

    Raises:
      TypeError: anything that is not one of `FLOAT_DTYPES` (or their
        names / NumPy dtypes).
    """
    if value is None:
        return None
    try:
        dtype = tf.as_dtype(value).base_dtype
    except TypeError:
        dtype = None
    if dtype not in FLOAT_DTYPES:
        raise TypeError(
            f"`{name}` must be one of {dtype_names()} or None, got "
            f"{value!r}.")
    return dtype


def check_callable(name, value, example="tf.nn.relu", allow_none=True):
    """Checks `value` is callable (or None when `allow_none`).

    Args:
      name: argument name, for messages.
      value: the argument.
      example: a callable to name in the message.
      allow_none: whether None is accepted.

    Returns:
      `value`.

    Raises:
      TypeError: if `value` is not callable.
    """
    if (value is None and allow_none) or callable(value):
        return value
    alternative = " or None" if allow_none else ""
    raise TypeError(
        f"`{name}` must be a callable such as {example}{alternative}, got "
        f"{value!r}.")


def check_rank(name, tensor, expected_ranks, description=""):
    """Checks the static rank of `tensor`.

    Args:
      name: argument name.
      tensor: the tensor.
      expected_ranks: an int, or a (min, None) tuple for "at least min".
      description: e.g. "[batch, height, width, channels]".

    Raises:
      ValueError: if the rank is unknown or not as expected.
    """
    rank = tensor.shape.ndims
    if isinstance(expected_ranks, tuple):
        minimum = expected_ranks[0]
        ok = rank is not None and rank >= minimum
        wanted = f"rank >= {minimum}"
    else:
        ok = rank == expected_ranks
        wanted = f"rank {expected_ranks}"
    if not ok:
        extra = f" {description}" if description else ""
        raise ValueError(
            f"`{name}` must have {wanted}{extra}, got shape "
            f"{shape_text(tensor.shape)} (rank {rank}) for {tensor.name}.")


def static_channels(name, tensor, axis):
    """The static size of `tensor`'s channel axis.

    Raises:
      ValueError: if that dimension is unknown at graph-construction time,
        or 0.
    """
    channels = tensor.shape.as_list()[axis]
    if channels is None:
        raise ValueError(
            f"The channel dimension (axis {axis}) of `{name}` must be known "
            f"when the graph is built, got shape "
            f"{shape_text(tensor.shape)} for {tensor.name}. Give the "
            "placeholder a static channel size or call set_shape().")
    if channels == 0:
        raise ValueError(
            f"`{name}` must have at least one channel (axis {axis}), got "
            f"shape {shape_text(tensor.shape)} for {tensor.name}.")
    return channels


def positive_int(name, value):
    """Checks `value` is a positive int (not a bool)."""
    if (isinstance(value, bool) or not isinstance(value, numbers.Integral)
            or value < 1):
        raise ValueError(
            f"`{name}` must be a positive integer, got {value!r}.")
    return int(value)


def int_tuple(name, value, length, allow_zero=False):
    """An int or a sequence of `length` positive ints, as a tuple.

    Args:
      name: argument name, for messages.
      value: an int or a sequence of ints.
      length: the number of entries wanted.
      allow_zero: accept 0 entries too (paddings).

    Returns:
      A tuple of `length` Python ints.

    Raises:
      ValueError: for anything else.
    """
    if isinstance(value, numbers.Integral) and not isinstance(value, bool):
        values = (value,) * length
    else:
        try:
            values = tuple(value)
        except TypeError:
            values = None
        if values is None or len(values) != length:
            raise ValueError(
                f"`{name}` must be an int or a sequence of {length} ints, got "
                f"{value!r}.")
    lowest = 0 if allow_zero else 1
    for item in values:
        if (isinstance(item, bool) or not isinstance(item, numbers.Integral)
                or item < lowest):
            kind = "non-negative" if allow_zero else "positive"
            raise ValueError(
                f"`{name}` must contain {kind} integers, got {value!r}.")
    return tuple(int(item) for item in values)


def finite_number(name, value):
    """Checks `value` is a finite real number (not a bool)."""
    if (isinstance(value, bool) or not isinstance(value, numbers.Real)
            or not abs(value) < float("inf")):
        raise ValueError(f"`{name}` must be a finite number, got {value!r}.")
    return float(value)


def positive_number(name, value):
    """Checks `value` is a positive finite real number."""
    if (isinstance(value, bool) or not isinstance(value, numbers.Real)
            or not value > 0 or value == float("inf")):
        raise ValueError(f"`{name}` must be a positive number, got {value!r}.")
    return float(value)


def non_negative_number(name, value):
    """Checks `value` is a finite real number >= 0."""
    if (isinstance(value, bool) or not isinstance(value, numbers.Real)
            or not value >= 0 or value == float("inf")):
        raise ValueError(
            f"`{name}` must be a non-negative number, got {value!r}.")
    return float(value)


def data_format(name, value, allowed):
    """Checks `value` is one of the `allowed` data format strings."""
    if value not in allowed:
        raise ValueError(
            f"`{name}` must be one of {', '.join(repr(a) for a in allowed)}, "
            f"got {value!r}.")
    return value


def padding(value, n_spatial, channels_first):
    """Normalizes a padding argument.

    Accepts 'SAME' or 'VALID' (any case), or explicit pairs as `tf.nn.conv2d`
    takes them: one ``[before, after]`` pair per dimension of the input
    (batch and channel pairs must be ``[0, 0]``), or one pair per spatial
    dimension.

    Args:
      value: the padding argument.
      n_spatial: number of spatial dimensions.
      channels_first: whether the channel axis is 1.

    Returns:
      'SAME', 'VALID', or a tuple of ``(before, after)`` pairs, one per
      spatial dimension.

    Raises:
      ValueError: for anything else.
    """
    if isinstance(value, str):
        upper = value.upper()
        if upper in ("SAME", "VALID"):
            return upper
        raise ValueError(
            f"`padding` must be 'SAME', 'VALID' or explicit [before, after] "
            f"pairs, got {value!r}.")
    try:
        pairs = [tuple(pair) for pair in value]
    except TypeError:
        pairs = None
    rank = n_spatial + 2
    bad = (pairs is None or len(pairs) not in (n_spatial, rank)
           or any(len(pair) != 2 for pair in pairs)
           or any(isinstance(p, bool) or not isinstance(p, numbers.Integral)
                  or p < 0 for pair in pairs for p in pair))
    if not bad and len(pairs) == rank:
        non_spatial = (0, 1) if channels_first else (0, rank - 1)
        if any(pairs[axis] != (0, 0) for axis in non_spatial):
            bad = True
        else:
            start = 2 if channels_first else 1
            pairs = pairs[start:start + n_spatial]
    if bad:
        raise ValueError(
            f"`padding` must be 'SAME', 'VALID' or explicit non-negative "
            f"[before, after] pairs for the {n_spatial} spatial dimension(s) "
            f"(or for all {rank} dimensions with [0, 0] for batch and "
            f"channels), got {value!r}.")
    return tuple((int(a), int(b)) for a, b in pairs)
