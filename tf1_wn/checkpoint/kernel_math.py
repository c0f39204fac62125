"""The norms of the checkpoint tools, on NumPy arrays (no TensorFlow).

Converting and folding checkpoints needs the weight norm and the weight
standardization without building a graph.  Everything here computes in
float64 and casts the result back to the input's dtype; the axes come from
`tf1_wn.kernel_kinds`, the formulas are those of `tf1_wn.normalization` and
`tf1_wn.standardization` (docs/design.md).
"""
import numpy as np

from tf1_wn import kernel_kinds
from tf1_wn.errors import LayoutError


#: Entries per block of the blockwise float64 passes: a large kernel is
#: never copied to float64 whole (axis 0 is a reduce axis of every kind).
_BLOCK_ENTRIES = 1 << 20


def _float64(array):
    return np.asarray(array).astype(np.float64)


def _blocks(array):
    """Slices of `array` along axis 0 of at most about `_BLOCK_ENTRIES`."""
    row = max(1, array.size // max(1, array.shape[0]))
    step = max(1, _BLOCK_ENTRIES // row)
    for start in range(0, array.shape[0], step):
        yield slice(start, start + step)


def _channel_sum(array, axes, transform=None):
    """``sum(transform(float64(array)), axes)`` with kept dims, blockwise."""
    total = None
    for block in _blocks(array):
        part = _float64(array[block])
        if transform is not None:
            part = transform(part)
        part = np.sum(part, axis=axes, keepdims=True)
        total = part if total is None else total + part
    return total


def _scaled(array, offset, scale):
    """``(array - offset) * scale`` in float64, blockwise, in `array`'s
    dtype."""
    out = np.empty_like(array)
    for block in _blocks(array):
        out[block] = (_float64(array[block]) - offset) * scale
    return out


def _channel_values(values, what, kind, kernel):
    """`values` (one per output channel) shaped to broadcast over `kernel`.

    Raises:
      LayoutError: `values` has the wrong number of entries.
    """
    keep = kernel_kinds.channel_shape(kind, kernel.shape)
    values = np.asarray(values)
    if values.size != int(np.prod(keep)):
        raise LayoutError(
            f"{what} of shape {list(values.shape)} does not fit a {kind} "
            f"kernel of shape {list(kernel.shape)} (needs "
            f"{int(np.prod(keep))} entries)")
    return _float64(values).reshape(keep)


def kernel_norm(kernel, kind, eps=0.0):
    """Per-output-channel L2 norm ``sqrt(sum(kernel**2) + eps)``, flattened.

    Args:
      kernel: NumPy array.
      kind: a key of `kernel_kinds.LAYER_KINDS`.
      eps: added to the sum of squares (0 gives the plain L2 norm).

    Returns:
      A 1-D array of `kernel_kinds.num_channels` entries in `kernel`'s
      dtype.

    Raises:
      LayoutError: `kind` does not fit `kernel`.
    """
    kernel = np.asarray(kernel)
    axes = tuple(kernel_kinds.reduce_axes(kind, kernel.ndim))
    sum_sq = _channel_sum(kernel, axes, np.square)
    return np.sqrt(sum_sq + eps).reshape(-1).astype(kernel.dtype)


def fold_weight_norm(v, g, kind, eps):
    """The plain kernel ``w = g * v / sqrt(sum(v**2) + eps)``.

    Args:
      v: direction array.
      g: per-output-channel gain, `kernel_kinds.num_channels` entries (any
        shape).
      kind: a key of `kernel_kinds.LAYER_KINDS`.
      eps: the eps of the layers that trained `v` and `g`.

    Returns:
      An array with `v`'s shape and dtype.

    Raises:
      LayoutError: `kind` does not fit `v`, or `g` has the wrong size.
    """
    v = np.asarray(v)
    g = _channel_values(g, "g", kind, v)
    axes = tuple(kernel_kinds.reduce_axes(kind, v.ndim))
    sum_sq = _channel_sum(v, axes, np.square)
    return _scaled(v, 0.0, g / np.sqrt(sum_sq + eps))


def fold_weight_standardization(kernel, kind, variant, gain=None):
    """The plain kernel a weight-standardized layer computes with.

    ``w = gain * (kernel - mean) / std`` per output channel, with the
    variance and eps of `variant`.

    Args:
      kernel: the WS layer's ``kernel`` array.
      kind: a key of `kernel_kinds.LAYER_KINDS`.
      variant: a key of `kernel_kinds.WS_VARIANTS` or a `WSVariant`.
      gain: optional per-output-channel gain.

    Returns:
      An array with `kernel`'s shape and dtype.

    Raises:
      LayoutError: `kind` does not fit `kernel`, or `gain` has the wrong
        size.
      ValueError: a bad `variant`, or an unbiased variant with one kernel
        entry per channel (as the layers refuse it).
    """
    kernel = np.asarray(kernel)
    variant = kernel_kinds.resolve_ws_variant(variant)
    axes = tuple(kernel_kinds.reduce_axes(kind, kernel.ndim))
    count = int(np.prod([kernel.shape[a] for a in axes]))
    kernel_kinds.check_ws_channel_size(variant, count, kernel.shape)
    mean = _channel_sum(kernel, axes) / count
    var = _channel_sum(kernel, axes, lambda k: np.square(k - mean)) / (
        count - 1 if variant.unbiased else count)
    if variant.eps_placement == "std":
        scale = 1.0 / (np.sqrt(var) + variant.eps)
    else:
        scale = 1.0 / np.sqrt(var + variant.eps)
    if gain is not None:
        scale = scale * _channel_values(gain, "gain", kind, kernel)
    return _scaled(kernel, mean, scale)
