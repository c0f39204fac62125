"""The weight-normalization math, in one place.

Every layer, cell and the Lasagne mirror call these functions; none of them
re-derives a norm.  Conventions:

* ``reduce_axes`` are the kernel axes a norm sums over (every axis but the
  output-channel axes, see REFERENCE: dense ``[0]``, conv ``[0..rank-2]``,
  transposed conv ``[0, 1, 3]``, depthwise ``[0, 1]``).
* Norms and statistics are computed in float32 for float16/bfloat16 tensors
  (a float16 sum of squares overflows above 65504 and ``1e-12`` rounds to 0)
  and cast back, so the result has the kernel's dtype.
* ``eps`` is added to the sum of squares inside the square root:
  ``w = g * v / sqrt(sum(v**2) + eps)``.  An all-zero column then gives a
  zero weight and finite gradients instead of NaN.  (The gradient of such a
  column is ``g / sqrt(eps) * dL/dw``; for float16 variables that can
  exceed 65504: keep float32 master weights, e.g. with a custom getter.)
"""
from tf1_wn._tf import tf

#: Default ``eps`` of the weight norm, added to the sum of squares.  For a
#: column with sum(v**2) >= 1e-6 the relative change of the weight is below
#: 0.5 * eps / sum(v**2) <= 5e-7.
DEFAULT_EPS = 1e-12

#: Added to the variance in data-dependent init: ``g = s / sqrt(var + eps)``.
#: Keeps a channel that is constant on the init batch finite (g = s * 1e4,
#: its output 0 on that batch) and changes the std of ordinary channels
#: (var >= 1e-4) by less than 5e-5 relative.
DATA_INIT_EPS = 1e-8

_LOW_PRECISION = (tf.float16, tf.bfloat16)


def statistics_dtype(dtype):
    """The dtype norms and moments are computed in for tensors of `dtype`."""
    dtype = tf.as_dtype(dtype)
    return tf.float32 if dtype in _LOW_PRECISION else dtype


def _to_stats(x):
    target = statistics_dtype(x.dtype)
    return x if x.dtype == target else tf.cast(x, target)


def inverse_norm(v, reduce_axes, eps=DEFAULT_EPS):
    """``1 / sqrt(sum(v**2, reduce_axes) + eps)`` with kept dimensions.

    Args:
      v: the direction tensor (any float dtype).
      reduce_axes: list of axes to sum over.
      eps: non-negative float added to the sum of squares.

    Returns:
      A tensor in `statistics_dtype(v.dtype)`, broadcastable against `v`.
    """
    norm = tf.math.reduce_euclidean_norm(
        _to_stats(v), axis=reduce_axes, keepdims=True)
    return tf.rsqrt(tf.square(norm) + eps)


def channel_scale(v, g, reduce_axes, eps=DEFAULT_EPS):
    """The per-output-channel factor ``g / sqrt(sum(v**2) + eps)``.

    ``w = v * channel_scale(v, g, ...)`` is the weight-normalized kernel, and
    for a linear op ``op(x, v) * channel_scale(...)`` is its output.  The
    gradient is written in closed form (``ds/dg = 1 / n``,
    ``ds/dv = -g * v / n**3`` with ``n**2 = sum(v**2) + eps``): one pass over
    v instead of the half-dozen that automatic differentiation of
    square/sum/add/rsqrt builds, which is most of weight norm's cost on
    small and weight-heavy layers, and finite for an all-zero column.

    Args:
      v: direction, any float dtype.
      g: gain with one entry per output channel (the product of the kept
        axes of `v`).
      reduce_axes: axes of `v` the norm sums over.
      eps: non-negative float added to the sum of squares.

    Returns:
      A tensor of `statistics_dtype(v.dtype)` with `v`'s rank, size 1 along
      `reduce_axes`.
    """
    v_stats = _to_stats(v)
    kept_shape = [1 if axis in reduce_axes else size
                  for axis, size in enumerate(v.shape.as_list())]
    g_stats = _to_stats(g)
    if g_stats.shape.as_list() != kept_shape:
        g_stats = tf.reshape(g_stats, kept_shape)
    norm = tf.math.reduce_euclidean_norm(v_stats, axis=reduce_axes,
                                         keepdims=True)
    inverse = tf.rsqrt(tf.square(norm) + eps)
    factor = g_stats * inverse
    # IdentityN carries (factor, inverse, v, g); its gradient, registered
    # once below, sends the closed form to v and g and nothing through the
    # ops above.  (tf.custom_gradient would register a new gradient
    # function on every call, which slows graph construction.)
    graph = tf.get_default_graph()
    with graph.gradient_override_map({"IdentityN": _SCALE_GRADIENT}):
        return tf.identity_n([factor, inverse, v_stats, g_stats])[0]


_SCALE_GRADIENT = "Tf1WnChannelScale"


@tf.RegisterGradient(_SCALE_GRADIENT)
def _channel_scale_gradient(op, upstream, *unused):
    """d factor / d v = -g v / n**3 = -factor * inverse**2 * v,
    d factor / d g = inverse."""
    del unused
    factor = op.outputs[0]
    inverse, direction = op.inputs[1], op.inputs[2]
    grad_direction = (-upstream * factor * tf.square(inverse)) * direction
    return [None, None, grad_direction, upstream * inverse]


def normalize_weight(v, g, reduce_axes, eps=DEFAULT_EPS):
    """The weight-normalized kernel ``w = g * v / ||v||``.

    Args:
      v: direction, any float dtype.
      g: per-output-channel gain; its size equals the product of the
        non-reduced axes of `v` (e.g. ``in * multiplier`` for depthwise).
        Pass ``None`` for the unit-norm kernel ``v / ||v||``.
      reduce_axes: axes of `v` the norm sums over.
      eps: see `inverse_norm`.

    Returns:
      A tensor with the shape and dtype of `v`.
    """
    if g is None:
        scale = inverse_norm(v, reduce_axes, eps)
    else:
        scale = channel_scale(v, g, reduce_axes, eps)
    if scale.dtype != v.dtype:
        # Multiply in float32: g / ||v|| of a tiny or zero column (up to
        # g * 1e6) overflows float16 before the product with v shrinks it.
        return tf.cast(_to_stats(v) * scale, v.dtype)
    return v * scale


def channel_moments(t, channel_axis):
    """Per-channel mean and population variance of `t`, in float32 or wider.

    Args:
      t: tensor of rank >= 2.
      channel_axis: the axis kept (negative counts from the end).

    Returns:
      ``(mean, variance)``, each of shape ``[channels]``.
    """
    rank = t.shape.ndims
    channel_axis %= rank
    axes = [axis for axis in range(rank) if axis != channel_axis]
    mean, variance = tf.nn.moments(_to_stats(t), axes=axes)
    return mean, variance


def data_init_statistics(t, channel_axis, init_scale=1.0, center=True,
                         eps=DATA_INIT_EPS):
    """Gain and bias that give `t` per-channel mean 0 and std `init_scale`.

    `t` must be the pre-activation computed with the unit-norm kernel
    ``v / ||v||`` (no g, no bias), so the result does not depend on the
    current values of g and bias: running the init twice gives the same
    values.

    Args:
      t: normalized pre-activation, rank >= 2.
      channel_axis: the channel axis of `t`.
      init_scale: target standard deviation.
      center: whether a bias removes the mean; without one only the
        standard deviation is set.
      eps: added to the variance (see `DATA_INIT_EPS`).

    Returns:
      ``(g, bias, initialized)``: g and bias (None when not `center`) of
      shape ``[channels]`` in float32 (float64 for float64 `t`), and
      ``initialized = g * t + bias`` in `t`'s dtype.
    """
    mean, variance = channel_moments(t, channel_axis)
    g = init_scale * tf.rsqrt(variance + eps)
    rank = t.shape.ndims
    shape = [1] * rank
    shape[channel_axis % rank] = -1
    initialized = _to_stats(t) * tf.reshape(g, shape)
    bias = None
    if center:
        bias = -mean * g
        initialized += tf.reshape(bias, shape)
    if initialized.dtype != t.dtype:
        initialized = tf.cast(initialized, t.dtype)
    return g, bias, initialized
