"""The weight-standardization math (Qiao et al. 2019), in one place.

``w_hat = (w - mean(w)) / std(w)`` per output channel, over every other axis
of the kernel (`reduce_axes`, from `tf1_wn.kernel_kinds`), optionally times a
per-channel gain.  Published models depend on the exact variant
(docs/design.md):

=============  ==========  ==============================
variant        variance    eps
=============  ==========  ==============================
``'paper'``    unbiased    ``std + 1e-5`` (outside sqrt)
``'paper_tf'`` biased      ``std + 1e-5``
``'bit'``      biased      ``sqrt(var + 1e-10)``
``'timm'``     biased      ``sqrt(var + 1e-6)``
=============  ==========  ==============================

Implementation notes:

* On the CPU the work is done by two fused kernels (`tf1_wn.native_ops`,
  C++ compiled on first use): one op forward, one op for the gradient.
  Composed from TensorFlow ops the same math is ~20 ops per layer and step,
  most of them broadcasting a per-channel vector over the kernel, and on a
  CPU per-op overhead, not arithmetic, is what weight standardization
  costs.  The composed path below is used when the mode is ``'off'``, the
  kernels cannot be built, a GPU is visible, or the channel axes are not
  adjacent; both compute the same formulas.
* Statistics are computed in float32 for float16/bfloat16 kernels (and in
  float64 for float64 ones); the result has the kernel's dtype.
* Composed path: the mean and variance take two reductions over the
  kernel, the variance over the centred kernel that the output needs
  anyway.  Native path: one pass of sums shifted by each channel's first
  entry (no cancellation unless that entry is far from the rest), partial
  sums in the kernel's dtype over 16 rows, accumulated in float64.
* The gradient is written in closed form (`tf.custom_gradient` here, the
  second kernel natively): five full-size elementwise ops and two
  reductions instead of the dozen ops autodiff emits.
* A constant kernel channel has zero variance.  With eps inside the sqrt
  (``'bit'``, ``'timm'``) everything is finite by construction.  With eps
  outside (``'paper'``, ``'paper_tf'``) the forward is finite (the channel
  standardizes to 0) and the gradient term through ``std = sqrt(var)``,
  whose derivative is infinite at 0, is taken as 0 there (the limit of the
  exact gradient's term ``w_hat * sum(G * w_hat) / std``, which vanishes as
  ``w_hat`` does); PyTorch's ``Tensor.std`` gives NaN there (WS issue #1).
"""
import numbers

from tf1_wn import kernel_kinds
from tf1_wn import native_ops
from tf1_wn._tf import tf
from tf1_wn.normalization import statistics_dtype


def _reduced_size(shape, reduce_axes):
    size = 1
    for axis in reduce_axes:
        size *= shape[axis]
    return size


def standardize_weight(kernel, reduce_axes, gain=None, variant="paper",
                       eps=None, eps_placement=None, unbiased=None):
    """The weight-standardized kernel ``gain * (w - mean) / std``.

    Args:
      kernel: float tensor (any float dtype) with a fully known shape.
      reduce_axes: the axes the statistics run over; the others are the
        output-channel axes (conv ``[0..rank-2]``, transposed conv
        ``[0, 1, 3]``, depthwise ``[0, 1]``).
      gain: None, or a per-output-channel gain whose size is the product of
        the non-reduced axes (e.g. ``in * multiplier`` for depthwise).
      variant, eps, eps_placement, unbiased: see
        `tf1_wn.kernel_kinds.resolve_ws_variant`, or pass a resolved
        `tf1_wn.kernel_kinds.WSVariant` as `variant`.

    Returns:
      A tensor with the shape and dtype of `kernel`.

    Raises:
      ValueError: bad variant arguments (see `resolve_ws_variant`), an
        unknown kernel shape, bad `reduce_axes`, or ``unbiased`` with a
        single element per channel.
      tf1_wn.NativeOpsError: native-ops mode ``'on'`` and the
        kernels cannot be built.
    """
    config = kernel_kinds.resolve_ws_variant(variant, eps, eps_placement,
                                             unbiased)
    kernel = tf.convert_to_tensor(kernel)
    shape = kernel.shape.as_list()
    if kernel.shape.ndims is None or None in shape:
        raise ValueError(
            f"`kernel` must have a fully known shape, got {kernel.shape}.")
    rank = len(shape)
    axes = sorted({axis % rank for axis in reduce_axes}) if all(
        isinstance(a, numbers.Integral) and -rank <= a < rank
        for a in reduce_axes) else None
    if not axes or len(axes) == rank:
        raise ValueError(
            f"`reduce_axes` must be distinct axes of the rank-{rank} kernel "
            f"leaving at least one channel axis, got {reduce_axes!r}.")
    n = _reduced_size(shape, axes)
    kernel_kinds.check_ws_channel_size(config, n, shape)
    stats_shape = [1 if axis in axes else size
                   for axis, size in enumerate(shape)]
    if gain is not None:
        gain = tf.convert_to_tensor(gain)
    layout = native_ops.kernel_layout(shape, axes)
    if layout is not None:
        return _standardize_native(kernel, gain, layout, config)
    if gain is None:
        return _standardize(kernel, axes, n, config)
    if gain.shape.as_list() != stats_shape:
        gain = tf.reshape(gain, stats_shape)
    return _standardize_with_gain(kernel, gain, axes, n, config)


def _standardize_native(kernel, gain, layout, config):
    """`standardize_weight` with the fused kernels of `tf1_wn.native_ops`."""
    dtype = kernel.dtype.base_dtype
    stats_dtype = statistics_dtype(dtype)
    if gain is None:
        gain = tf.ones([layout.channels], stats_dtype)
    else:
        gain = native_ops.channel_vector(gain, layout, stats_dtype)
    output, _, _, _ = layout.library.tf1_wn_standardize_weight(
        _cast(kernel, stats_dtype), gain, tf.constant(config.eps, stats_dtype),
        channels_begin=layout.channels_begin,
        channels_end=layout.channels_end,
        eps_in_var=config.eps_placement == "var", unbiased=config.unbiased)
    return _cast(output, dtype)


def _cast(x, dtype):
    return x if x.dtype == dtype else tf.cast(x, dtype)


def _forward(w, gain, axes, n, config):
    """The forward pass and what the gradient needs.

    Returns:
      ``(y, centred, scale, r, t, divisor)``, the tensors in the statistics
      dtype: ``y = centred * scale`` with ``scale = r * gain``; ``r`` is
      ``1 / sqrt(var + eps)`` or ``1 / (std + eps)``; ``t`` is the factor
      of the variance term of the gradient (``r``, or ``1 / std`` with 0
      for a constant channel); ``divisor`` is the variance's ``n`` or
      ``n - 1`` (a Python number).
    """
    mean = tf.reduce_mean(w, axes, keepdims=True)
    centred = w - mean
    divisor = n - 1 if config.unbiased else n
    if config.unbiased:
        var = tf.reduce_sum(tf.square(centred), axes, keepdims=True) * (
            1.0 / divisor)
    else:
        var = tf.reduce_mean(tf.square(centred), axes, keepdims=True)
    if config.eps_placement == "var":
        r = tf.rsqrt(var + config.eps)
        t = r
    else:
        std = tf.sqrt(var)
        r = tf.reciprocal(std + config.eps)
        t = tf.math.reciprocal_no_nan(std)
    scale = r if gain is None else r * gain
    return centred * scale, centred, scale, r, t, divisor


def _backward(dy, centred, scale, r, t, divisor, axes):
    """Closed-form gradients: ``(d kernel, d gain)``.

    With ``P = sum(dy * centred)`` per channel:
    ``d gain = r * P`` and
    ``d kernel = scale * (dy - mean(dy) - centred * (r * t * P / divisor))``.
    """
    dy_mean = tf.reduce_mean(dy, axes, keepdims=True)
    p = tf.reduce_sum(dy * centred, axes, keepdims=True)
    coefficient = r * t * p * (1.0 / divisor)
    d_kernel = scale * (dy - (dy_mean + centred * coefficient))
    return d_kernel, r * p


def _standardize(kernel, axes, n, config):
    @tf.custom_gradient
    def standardize(w):
        dtype = w.dtype
        w_stats = _cast(w, statistics_dtype(dtype))
        y, centred, scale, r, t, divisor = _forward(
            w_stats, None, axes, n, config)

        def grad(dy):
            d_kernel, _ = _backward(_cast(dy, y.dtype), centred, scale, r, t,
                                    divisor, axes)
            return _cast(d_kernel, dtype)

        return _cast(y, dtype), grad

    return standardize(kernel)


def _standardize_with_gain(kernel, gain, axes, n, config):
    @tf.custom_gradient
    def standardize(w, g):
        dtype, g_dtype = w.dtype, g.dtype
        stats_dtype = statistics_dtype(dtype)
        y, centred, scale, r, t, divisor = _forward(
            _cast(w, stats_dtype), _cast(g, stats_dtype), axes, n, config)

        def grad(dy):
            d_kernel, d_gain = _backward(_cast(dy, y.dtype), centred, scale,
                                         r, t, divisor, axes)
            return _cast(d_kernel, dtype), _cast(d_gain, g_dtype)

        return _cast(y, dtype), grad

    return standardize(kernel, gain)
