"""The weight-standardization math (Qiao et al. 2019), in one place.

``w_hat = (w - mean(w)) / std(w)`` per output channel, over every other axis
of the kernel (`reduce_axes`, as in `tf1_wn.kernels`), optionally times a
per-channel gain.  Published models depend on the exact variant
(REFERENCE section 4):

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
import collections
import numbers

from tf1_wn import native_ops
from tf1_wn._tf import tf
from tf1_wn.normalization import statistics_dtype

#: ``variant -> (eps, eps_placement, unbiased)``.
VARIANTS = {
    "paper": (1e-5, "std", True),
    "paper_tf": (1e-5, "std", False),
    "bit": (1e-10, "var", False),
    "timm": (1e-6, "var", False),
}

EPS_PLACEMENTS = ("std", "var")

#: A resolved weight-standardization configuration.
StandardizationConfig = collections.namedtuple(
    "StandardizationConfig", ["eps", "eps_placement", "unbiased"])


def resolve_variant(variant="paper", eps=None, eps_placement=None,
                    unbiased=None):
    """Combines a named variant with explicit overrides.

    Args:
      variant: one of ``'paper'``, ``'paper_tf'``, ``'bit'``, ``'timm'``, or
        None to give all of `eps`, `eps_placement` and `unbiased`.
      eps: positive float; overrides the variant's.
      eps_placement: ``'std'`` (``(w - mean) / (std + eps)``) or ``'var'``
        (``(w - mean) / sqrt(var + eps)``); overrides the variant's.
      unbiased: bool, divide the variance by ``n - 1`` instead of ``n``;
        overrides the variant's.

    Returns:
      A `StandardizationConfig`.

    Raises:
      ValueError: for an unknown variant or placement, a non-positive or
        non-finite eps, a non-bool unbiased, or ``variant=None`` without all
        three explicit values.
    """
    if variant is None:
        missing = [name for name, value in (
            ("eps", eps), ("eps_placement", eps_placement),
            ("unbiased", unbiased)) if value is None]
        if missing:
            raise ValueError(
                "`variant=None` needs explicit eps, eps_placement and "
                f"unbiased; missing: {', '.join(missing)}.")
        defaults = (None, None, None)
    else:
        if not isinstance(variant, str) or variant not in VARIANTS:
            raise ValueError(
                f"`variant` must be one of "
                f"{', '.join(repr(v) for v in VARIANTS)} or None, got "
                f"{variant!r}.")
        defaults = VARIANTS[variant]
    if eps is None:
        eps = defaults[0]
    elif (isinstance(eps, bool) or not isinstance(eps, numbers.Real)
          or not 0 < eps < float("inf")):
        raise ValueError(
            f"`eps` must be a positive finite number, got {eps!r} (eps = 0 "
            "would turn a constant kernel channel into NaN).")
    if eps_placement is None:
        eps_placement = defaults[1]
    elif eps_placement not in EPS_PLACEMENTS:
        raise ValueError(
            f"`eps_placement` must be 'std' ((w - mean) / (std + eps)) or "
            f"'var' ((w - mean) / sqrt(var + eps)), got {eps_placement!r}.")
    if unbiased is None:
        unbiased = defaults[2]
    elif not isinstance(unbiased, bool):
        raise ValueError(
            f"`unbiased` must be True or False, got {unbiased!r}.")
    return StandardizationConfig(float(eps), eps_placement, unbiased)


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
      variant, eps, eps_placement, unbiased: see `resolve_variant`, or pass a
        `StandardizationConfig` as `variant`.

    Returns:
      A tensor with the shape and dtype of `kernel`.

    Raises:
      ValueError: bad variant arguments (see `resolve_variant`), an
        unknown kernel shape, bad `reduce_axes`, or ``unbiased`` with a
        single element per channel.
      tf1_wn.native_ops.NativeOpsError: native-ops mode ``'on'`` and the
        kernels cannot be built.
    """
    if isinstance(variant, StandardizationConfig):
        config = variant
    else:
        config = resolve_variant(variant, eps, eps_placement, unbiased)
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
    if config.unbiased and n < 2:
        raise ValueError(
            f"`unbiased=True` needs at least 2 kernel entries per output "
            f"channel, got {n} (kernel shape {shape}); use a biased variant "
            "('paper_tf', 'bit', 'timm') or unbiased=False.")
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
    dtype = kernel.dtype
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
    """Returns ``(y, centred, scale, r, t)`` in the statistics dtype.

    ``y = centred * scale`` with ``scale = r * gain``; ``r`` is
    ``1 / sqrt(var + eps)`` or ``1 / (std + eps)``; ``t`` is the factor of
    the variance term of the gradient (``r``, or ``1 / std`` with 0 for a
    constant channel).
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


def standardize_weight_numpy(kernel, reduce_axes, gain=None,
                             variant="paper", eps=None, eps_placement=None,
                             unbiased=None):
    """`standardize_weight` on NumPy arrays, for checkpoint tools.

    Folding a weight-standardized checkpoint into plain kernels needs the
    standardized kernel without building a graph.  Computed in float64 and
    returned in the kernel's dtype.

    Args:
      kernel: NumPy array.
      reduce_axes, variant, eps, eps_placement, unbiased: as
        `standardize_weight`.
      gain: None or an array with one entry per output channel.

    Returns:
      A NumPy array with the shape and dtype of `kernel`.

    Raises:
      ValueError: as `standardize_weight`.
    """
    import numpy as np  # pylint: disable=import-outside-toplevel

    if isinstance(variant, StandardizationConfig):
        config = variant
    else:
        config = resolve_variant(variant, eps, eps_placement, unbiased)
    array = np.asarray(kernel)
    rank = array.ndim
    axes = tuple(sorted({axis % rank for axis in reduce_axes}))
    if not axes or len(axes) == rank:
        raise ValueError(
            f"`reduce_axes` must be distinct axes of the rank-{rank} kernel "
            f"leaving at least one channel axis, got {reduce_axes!r}.")
    n = _reduced_size(array.shape, axes)
    if config.unbiased and n < 2:
        raise ValueError(
            f"`unbiased=True` needs at least 2 kernel entries per output "
            f"channel, got {n} (kernel shape {list(array.shape)}).")
    w = array.astype(np.float64)
    centred = w - w.mean(axis=axes, keepdims=True)
    var = (centred ** 2).sum(axis=axes, keepdims=True) / (
        n - 1 if config.unbiased else n)
    if config.eps_placement == "var":
        out = centred / np.sqrt(var + config.eps)
    else:
        out = centred / (np.sqrt(var) + config.eps)
    if gain is not None:
        stats_shape = [1 if axis in axes else size
                       for axis, size in enumerate(array.shape)]
        out = out * np.asarray(gain, np.float64).reshape(stats_shape)
    return out.astype(array.dtype)
