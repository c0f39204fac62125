"""The weight-normalization math, in one place.

Every layer, cell and the Lasagne mirror call these functions; none of them
re-derives a norm.  Conventions:

* ``reduce_axes`` are the kernel axes a norm sums over: every axis but the
  output-channel axes of `tf1_wn.kernel_kinds` (dense ``[0]``, conv
  ``[0..rank-2]``, transposed conv ``[0, 1, 3]``, depthwise ``[0, 1]``;
  docs/design.md).
* Norms and statistics are computed in float32 for float16/bfloat16 tensors
  (a float16 sum of squares overflows above 65504 and ``1e-12`` rounds to 0)
  and cast back, so the result has the kernel's dtype.
* ``eps`` is added to the sum of squares inside the square root:
  ``w = g * v / sqrt(sum(v**2) + eps)``.  An all-zero column then gives a
  zero weight and finite gradients instead of NaN.  (The gradient of such a
  column is ``g / sqrt(eps) * dL/dw``; for float16 variables that can
  exceed 65504: keep float32 master weights, e.g. with a custom getter.)
* On the CPU `normalize_weight` with a gain runs as one fused op each way
  (`tf1_wn.native_ops`); the composed ops below, with their closed-form
  gradients, run otherwise (mode ``'off'``, a GPU, no compiler) and for
  `channel_scale` and the unit-norm kernel.  Both compute the same formula.
"""
from tf1_wn import native_ops
from tf1_wn import validation
from tf1_wn._tf import tf

#: Default ``eps`` of the weight norm, added to the sum of squares.  For a
#: column with sum(v**2) >= 1e-6 the relative change of the weight is below
#: 0.5 * eps / sum(v**2) <= 5e-7.
DEFAULT_EPS = 1e-12

#: Added to the variance in data-dependent init: ``g = s / sqrt(var + eps)``
#: changes the std of ordinary channels (var >= 1e-4) by less than 5e-5
#: relative.  A channel whose variance on the init batch is below it is
#: taken as constant there and gets ``g = s`` (see
#: `data_init_statistics`).
DATA_INIT_EPS = 1e-8


def statistics_dtype(dtype):
    """The dtype norms and moments are computed in for tensors of `dtype`
    (a reference dtype, as TF1's variables have, counts as its base)."""
    dtype = tf.as_dtype(dtype).base_dtype
    return tf.float32 if dtype in validation.LOW_PRECISION_DTYPES else dtype


def _to_stats(x):
    # A TF1 reference variable converts to its snapshot, whose dtype is the
    # base one: every comparison below sees float16, not float16_ref.
    x = tf.convert_to_tensor(x)
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


def _factor_terms(v_stats, g, reduce_axes, eps, gain_gradient=None):
    """``(factor, inverse, g_stats)``: ``factor = g / sqrt(sum(v**2) + eps)``
    and ``inverse = 1 / sqrt(sum(v**2) + eps)``, both with kept dims.

    With `gain_gradient`, the product ``g * inverse`` gets that gradient.
    """
    kept_shape = [1 if axis in reduce_axes else size
                  for axis, size in enumerate(v_stats.shape.as_list())]
    g_stats = _to_stats(g)
    # g of shape [out] broadcasts against a channels-last kept shape as is.
    if kept_shape[-1:] != g_stats.shape.as_list() or any(
            size != 1 for size in kept_shape[:-1]):
        g_stats = tf.reshape(g_stats, kept_shape)
    inverse = inverse_norm(v_stats, reduce_axes, eps)
    if gain_gradient is None:
        return g_stats * inverse, inverse, g_stats
    with tf.get_default_graph().gradient_override_map({"Mul": gain_gradient}):
        return g_stats * inverse, inverse, g_stats


# Closed-form gradients (docs/design.md, section 1), registered once and
# attached with gradient_override_map to the products that form the result:
# nothing is differentiated through the norm's own ops.  tf.custom_gradient
# would register a new function on every call, and automatic differentiation
# of the broadcasting products and the norm builds about three times as many
# ops, which shows in graph-construction time and on small layers.
_GAIN_GRADIENT = "Tf1WnGain"
_WEIGHT_GRADIENT = "Tf1WnWeightNorm"
_SCALE_GRADIENT = "Tf1WnChannelScale"


def _to_gain_shape(grad, gain):
    if grad.shape.as_list() != gain.shape.as_list():
        grad = tf.reshape(grad, gain.shape)
    return grad


@tf.RegisterGradient(_GAIN_GRADIENT)
def _gain_gradient(op, upstream):
    """factor = g * inverse: dL/dg = dL/dfactor * inverse; the path into
    the norm is covered by the weight's gradient."""
    gain, inverse = op.inputs
    return [_to_gain_shape(upstream * inverse, gain), None]


@tf.RegisterGradient(_WEIGHT_GRADIENT)
def _weight_gradient(op, upstream):
    """w = v * factor:  with dot = sum(dL/dw * v) over the reduced axes,
    dL/dv = factor * (dL/dw - dot * inverse**2 * v), dL/dfactor = dot
    (which the gain's gradient turns into dL/dg = dot * inverse)."""
    direction, factor = op.inputs
    inverse = factor.op.inputs[1]
    reduced = [axis for axis, size in enumerate(factor.shape.as_list())
               if size == 1]
    dot = tf.reduce_sum(upstream * direction, axis=reduced, keepdims=True)
    grad_direction = factor * (upstream - (dot * tf.square(inverse))
                               * direction)
    return [grad_direction, dot]


@tf.RegisterGradient(_SCALE_GRADIENT)
def _channel_scale_gradient(op, upstream, *unused):
    """factor = g * inverse:  d/dv = -factor * inverse**2 * v,
    d/dg = inverse."""
    del unused
    factor = op.outputs[0]
    inverse, direction, gain = op.inputs[1], op.inputs[2], op.inputs[3]
    grad_direction = (-upstream * factor * tf.square(inverse)) * direction
    grad_gain = _to_gain_shape(upstream * inverse, gain)
    return [None, None, grad_direction, grad_gain]


def channel_scale(v, g, reduce_axes, eps=DEFAULT_EPS):
    """The per-output-channel factor ``g / sqrt(sum(v**2) + eps)``.

    For a linear op, ``op(x, v) * channel_scale(...)`` is the output of the
    weight-normalized layer.  The gradient is in closed form
    (``d/dg = 1 / n``, ``d/dv = -g * v / n**3`` with
    ``n**2 = sum(v**2) + eps``): one pass over v, and finite for an all-zero
    column.

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
    factor, inverse, g_stats = _factor_terms(v_stats, g, reduce_axes, eps)
    # IdentityN carries what the gradient needs, (factor, inverse, v, g).
    graph = tf.get_default_graph()
    with graph.gradient_override_map({"IdentityN": _SCALE_GRADIENT}):
        return tf.identity_n([factor, inverse, v_stats, g_stats])[0]


_SCALED_PRODUCT_GRADIENT = "Tf1WnScaledProduct"


@tf.RegisterGradient(_SCALED_PRODUCT_GRADIENT)
def _scaled_product_gradient(op, upstream, *unused):
    """y = (x @ v) * factor (+ bias): one native op for dh = dy * factor
    and the sums over rows, the matmuls for dx = dh @ v^T and x^T dh, and
    one native op adding the factor's path into the latter's buffer."""
    del unused
    _, inputs, direction, gain, product, factor, inverse = op.inputs[:7]
    library = native_ops.load()
    product_grad, factor_grad, bias_grad = \
        library.tf1_wn_scale_columns_grad(upstream, product, factor)
    inputs_grad = tf.matmul(product_grad, direction, transpose_b=True)
    direction_grad, gain_grad = library.tf1_wn_scaled_product_grad(
        tf.matmul(inputs, product_grad, transpose_a=True), direction, gain,
        inverse, factor_grad, channels_begin=1, channels_end=2)
    grads = [None, inputs_grad, direction_grad, gain_grad, None, None, None]
    return grads + [bias_grad] * (len(op.inputs) - 7)


def scaled_matmul(inputs, v, g, bias=None, eps=DEFAULT_EPS):
    """``inputs @ w + bias`` for the weight-normalized ``w`` of a dense
    kernel, computed as ``(inputs @ v) * (g / sqrt(sum(v**2, 0) + eps))``.

    Cheaper than scaling the kernel when `inputs` has fewer rows than
    features.  On the CPU (`tf1_wn.native_ops`) the factor is one pass over
    `v`, scaling and bias one pass over the output, and the gradient one
    more pass over each: the direction's gradient is written over the
    matmul's.  Elsewhere (mode ``'off'``, a GPU) composed ops compute it
    (`channel_scale`).

    Args:
      inputs: ``[rows, in]`` tensor of `v`'s dtype (float32 or float64).
      v: ``[in, units]`` direction.
      g: ``[units]`` gain.
      bias: ``[units]`` bias of `v`'s dtype, or None.
      eps: see `inverse_norm`.

    Returns:
      The ``[rows, units]`` result.
    """
    v = tf.convert_to_tensor(v)  # one read of a variable for all uses
    layout = native_ops.kernel_layout(v.shape, [0])
    if layout is None:
        scale = tf.reshape(channel_scale(v, g, [0], eps), [-1])
        outputs = tf.matmul(inputs, v) * scale
        return outputs if bias is None else tf.nn.bias_add(outputs, bias)
    gain = native_ops.channel_vector(g, layout, v.dtype)
    factor, inverse = layout.library.tf1_wn_norm_factor(
        v, gain, tf.constant(eps, v.dtype), channels_begin=1, channels_end=2)
    product = tf.matmul(inputs, v)
    biases = [] if bias is None else [bias]
    outputs = layout.library.tf1_wn_scale_columns(product, factor, biases)
    # IdentityN carries what the gradient needs; its gradient gives none to
    # `outputs`, so nothing else differentiates the product.
    graph = tf.get_default_graph()
    with graph.gradient_override_map({"IdentityN": _SCALED_PRODUCT_GRADIENT}):
        return tf.identity_n(
            [outputs, inputs, v, gain, product, factor, inverse] + biases)[0]


def _native_weight_norm(v_stats, g, reduce_axes, eps):
    """`normalize_weight` by the fused kernel, or None where it does not
    apply (no gain, or `native_ops.kernel_layout` says composed ops)."""
    if g is None:
        return None
    layout = native_ops.kernel_layout(v_stats.shape, reduce_axes)
    if layout is None:
        return None
    weight, _ = layout.library.tf1_wn_normalize_weight(
        v_stats, native_ops.channel_vector(g, layout, v_stats.dtype),
        tf.constant(eps, v_stats.dtype),
        channels_begin=layout.channels_begin,
        channels_end=layout.channels_end)
    return weight


def normalize_weight(v, g, reduce_axes, eps=DEFAULT_EPS):
    """The weight-normalized kernel ``w = g * v / sqrt(sum(v**2) + eps)``.

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
    v_stats = _to_stats(v)
    native = _native_weight_norm(v_stats, g, reduce_axes, eps)
    if native is not None:
        weight = native
    elif g is None:
        weight = v_stats * inverse_norm(v_stats, reduce_axes, eps)
    else:
        factor, _, _ = _factor_terms(v_stats, g, reduce_axes, eps,
                                     gain_gradient=_GAIN_GRADIENT)
        # For float16 the product is taken in float32: g / ||v|| of a tiny
        # or zero column (up to g * 1e6) overflows before v shrinks it.
        with tf.get_default_graph().gradient_override_map(
                {"Mul": _WEIGHT_GRADIENT}):
            weight = v_stats * factor
    if weight.dtype != v.dtype.base_dtype:
        weight = tf.cast(weight, v.dtype.base_dtype)
    return weight


def local_moments(t, channel_axis):
    """Per-channel ``(count, mean, m2)`` of `t`, in float32 or wider.

    ``m2`` is the sum of squared deviations from the mean (two passes, no
    cancellation).  An empty `t` gives count 0, mean 0 and m2 0.  Counts
    are exact up to 2**24 positions per channel in float32.

    Args:
      t: tensor of rank >= 2 with a static channel dimension.
      channel_axis: the axis kept (negative counts from the end).

    Returns:
      ``(count, mean, m2)``: a scalar and two ``[channels]`` tensors.
    """
    t = _to_stats(t)
    rank = t.shape.ndims
    channel_axis %= rank
    axes = [axis for axis in range(rank) if axis != channel_axis]
    count = tf.cast(tf.size(t, out_type=tf.int64), t.dtype) / float(
        t.shape[channel_axis])
    mean = tf.reduce_sum(t, axes) / tf.maximum(count, 1.0)
    shape = [1] * rank
    shape[channel_axis] = -1
    m2 = tf.reduce_sum(tf.square(t - tf.reshape(mean, shape)), axes)
    return count, mean, m2


def pooled_moments(parts):
    """Chan's pooling of `local_moments` of disjoint parts of one batch.

    Args:
      parts: a list of ``(count, mean, m2)``.

    Returns:
      ``(count, mean, m2)`` of the concatenated parts.
    """
    if len(parts) == 1:
        return parts[0]
    count = tf.add_n([part[0] for part in parts])
    mean = tf.add_n([n * m for n, m, _ in parts]) / tf.maximum(count, 1.0)
    m2 = tf.add_n([m2 + n * tf.square(m - mean) for n, m, m2 in parts])
    return count, mean, m2


def sums_from_moments(count, mean, m2):
    """``(count, sum(t), sum(t**2))`` of `local_moments`: the form that
    adds up across processes (accumulators on a parameter server)."""
    return count, count * mean, m2 + count * tf.square(mean)


def moments_from_sums(count, total, squares):
    """`sums_from_moments` back to ``(count, mean, m2)``.

    ``squares - total**2 / count`` cancels: keep the sums in float64 (its
    error is then about 1e-16 * (mean / std)**2 of m2); rounding below 0
    is clipped.
    """
    divisor = tf.maximum(count, 1.0)
    m2 = tf.maximum(squares - tf.square(total) / divisor, 0.0)
    return count, total / divisor, m2


def _checked_moments(t, channel_axis, layer, pool):
    """Mean and population variance of `t` (pooled by `pool` when given),
    failing with InvalidArgumentError naming `layer` when the init batch is
    empty or holds NaN or inf."""
    where = f"data init of {layer}"
    count, mean, m2 = local_moments(t, channel_axis)
    if pool is not None:
        count, mean, m2 = pool(count, mean, m2)
    # log(count) is finite exactly when the batch is not empty: a check
    # with a GPU kernel (an Assert's string constants have none).
    nonempty = tf.debugging.check_numerics(
        tf.math.log(count), f"{where}: the init batch is empty (a batch of "
        "size 0, or every sequence length 0); g and bias are left unchanged")
    with tf.control_dependencies([nonempty]):
        variance = m2 / count
    advice = ("the init batch holds NaN or inf; g and bias are left "
              "unchanged")
    return (tf.debugging.check_numerics(mean, f"{where}: {advice}"),
            tf.debugging.check_numerics(variance, f"{where}: {advice}"))


def data_init_statistics(t, channel_axis, init_scale=1.0, center=True,
                         eps=DATA_INIT_EPS, layer="layer", pool=None):
    """Gain and bias that give `t` per-channel mean 0 and std `init_scale`.

    `t` must be the pre-activation computed with the unit-norm kernel
    ``v / ||v||`` (no g, no bias), so the result does not depend on the
    current values of g and bias: running the init twice gives the same
    values.

    A channel whose variance on the batch is below `eps` carries no scale
    to match (it is constant there): it gets ``g = init_scale``, the gain
    of a unit-variance channel, instead of ``init_scale / sqrt(eps)``, and
    its bias still removes its mean.  Every op that uses the result fails
    with an ``InvalidArgumentError`` naming `layer` when the batch is empty
    or holds NaN or inf, so no assign can write NaN into g or bias.

    Args:
      t: normalized pre-activation, rank >= 2.
      channel_axis: the channel axis of `t`.
      init_scale: target standard deviation.
      center: whether a bias removes the mean; without one only the
        standard deviation is set.
      eps: added to the variance (see `DATA_INIT_EPS`), and the variance
        below which a channel is taken as constant.
      layer: the layer's name, for the error messages.
      pool: optional callable mapping this batch's ``(count, mean, m2)``
        (`local_moments`) to the moments the init should use, e.g. those
        pooled over towers (`tf1_wn.build_towers`).

    Returns:
      ``(g, bias, initialized)``: g and bias (None when not `center`) of
      shape ``[channels]`` in float32 (float64 for float64 `t`), and
      ``initialized = g * t + bias`` in `t`'s dtype.
    """
    mean, variance = _checked_moments(t, channel_axis, layer, pool)
    g = tf.where(variance < eps, tf.fill(tf.shape(variance), tf.constant(
        init_scale, variance.dtype)), init_scale * tf.rsqrt(variance + eps))
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
