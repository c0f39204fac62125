"""Kernel layouts and their norms, in pure NumPy (no TensorFlow).

A *kind* names a kernel layout and says which axes a weight norm (or a
weight standardization) reduces; the remaining axes are the output channels,
one ``g`` (or ``gain``) per output channel, flattened in row-major order
(REFERENCE.md section 1):

======================  =====================  ==================
kind                    layout                 reduced axes
======================  =====================  ==================
``dense``               ``[in, out]``          ``[0]``
``conv1d/2d/3d``        ``[*k, in, out]``      all but the last
``conv1d/2d/3d_transpose``  ``[*k, out, in]``  all but ``rank-2``
``depthwise_conv2d``    ``[kh, kw, in, mult]`` ``[0, 1]``
======================  =====================  ==================

Recurrent-cell kinds (``lstm_cell``, ``rnn_cell``, ``gru_cell``) describe a
TF1 cell kernel ``[d + n, k * n]``: its rows split into an input part
``[:d]`` and a recurrent part ``[d:]``, each a ``dense`` kernel.

Everything here works on NumPy arrays and computes in float64, casting the
result back to the input's dtype.
"""
import collections

import numpy as np

#: Layer kernel kinds, by rank.
LAYER_KINDS = {
    "dense": 2,
    "conv1d": 3,
    "conv2d": 4,
    "conv3d": 5,
    "conv1d_transpose": 3,
    "conv2d_transpose": 4,
    "conv3d_transpose": 5,
    "depthwise_conv2d": 4,
}

#: TF1 recurrent-cell kinds and the number of gate blocks ``k`` in the
#: kernel's columns (``[d + n, k * n]``).  ``gru_cell`` is resolved to its
#: ``gates`` (k=2) or ``candidate`` (k=1) kernel by the scope name.
CELL_KINDS = {
    "lstm_cell": 4,
    "rnn_cell": 1,
    "gru_cell": None,
    "gru_gates": 2,
    "gru_candidate": 1,
}

#: Kinds a user may name in a layout hint.
HINT_KINDS = tuple(sorted(set(LAYER_KINDS) | {"lstm_cell", "rnn_cell",
                                             "gru_cell"}))

_DEFAULT_BY_RANK = {2: "dense", 3: "conv1d", 4: "conv2d", 5: "conv3d"}
_TRANSPOSE_BY_RANK = {3: "conv1d_transpose", 4: "conv2d_transpose",
                      5: "conv3d_transpose"}

#: The four weight-standardization variants of REFERENCE.md section 4.
WSVariant = collections.namedtuple("WSVariant",
                                   ["eps", "eps_placement", "unbiased"])
WS_VARIANTS = {
    "paper": WSVariant(1e-5, "std", True),
    "paper_tf": WSVariant(1e-5, "std", False),
    "bit": WSVariant(1e-10, "var", False),
    "timm": WSVariant(1e-6, "var", False),
}


class LayoutError(ValueError):
    """A kernel kind does not fit a kernel's shape."""


def default_kind(rank, transposed=False):
    """The layer kind a kernel of `rank` has when nothing else is known.

    Args:
      rank: the kernel's rank (2..5).
      transposed: whether the layer is a transposed convolution.

    Returns:
      A kind from `LAYER_KINDS`, or None for an unsupported rank.
    """
    table = _TRANSPOSE_BY_RANK if transposed else _DEFAULT_BY_RANK
    return table.get(rank)


def check_kind(kind, shape):
    """Checks that a layer `kind` fits a kernel of `shape`.

    Args:
      kind: a key of `LAYER_KINDS`.
      shape: the kernel's shape.

    Raises:
      LayoutError: unknown kind or wrong rank.
    """
    if kind not in LAYER_KINDS:
        raise LayoutError("unknown kernel kind %r; expected one of %s"
                          % (kind, ", ".join(sorted(LAYER_KINDS))))
    if len(shape) != LAYER_KINDS[kind]:
        raise LayoutError("kernel kind %r needs a rank-%d kernel, got shape %s"
                          % (kind, LAYER_KINDS[kind], list(shape)))


def reduce_axes(kind, rank):
    """The axes a per-output-channel norm of a `kind` kernel reduces.

    Args:
      kind: a key of `LAYER_KINDS`.
      rank: the kernel's rank.

    Returns:
      A list of axes.
    """
    check_kind(kind, [None] * rank)
    if kind == "depthwise_conv2d":
        return [0, 1]
    if kind.endswith("_transpose"):
        return [axis for axis in range(rank) if axis != rank - 2]
    return list(range(rank - 1))


def channel_shape(kind, shape):
    """The kept-dims shape of the per-channel statistics (g broadcasts to it).

    Args:
      kind: a key of `LAYER_KINDS`.
      shape: the kernel's shape.

    Returns:
      A list, 1 on every reduced axis.
    """
    axes = reduce_axes(kind, len(shape))
    return [1 if axis in axes else int(size) for axis, size in enumerate(shape)]


def num_channels(kind, shape):
    """The number of output channels (the size of g) of a `kind` kernel."""
    return int(np.prod(channel_shape(kind, shape)))


def _float64(array):
    return np.asarray(array).astype(np.float64)


def kernel_norm(kernel, kind, eps=0.0):
    """Per-output-channel L2 norm ``sqrt(sum(kernel**2) + eps)``, flattened.

    Args:
      kernel: NumPy array.
      kind: a key of `LAYER_KINDS`.
      eps: added to the sum of squares (0 gives the plain L2 norm).

    Returns:
      A 1-D array of `num_channels` entries in `kernel`'s dtype.
    """
    kernel = np.asarray(kernel)
    axes = tuple(reduce_axes(kind, kernel.ndim))
    sum_sq = np.sum(np.square(_float64(kernel)), axis=axes)
    return np.sqrt(sum_sq + eps).reshape(-1).astype(kernel.dtype)


def fold_weight_norm(v, g, kind, eps):
    """The plain kernel ``w = g * v / sqrt(sum(v**2) + eps)``.

    Args:
      v: direction array.
      g: per-output-channel gain, `num_channels` entries (any shape).
      kind: a key of `LAYER_KINDS`.
      eps: the eps of the layers that trained `v` and `g`.

    Returns:
      An array with `v`'s shape and dtype.

    Raises:
      LayoutError: `g` has the wrong size for `kind`.
    """
    v = np.asarray(v)
    keep = channel_shape(kind, v.shape)
    g = np.asarray(g)
    if g.size != int(np.prod(keep)):
        raise LayoutError("g of shape %s does not fit a %s kernel of shape %s "
                          "(needs %d entries)" % (list(g.shape), kind,
                                                  list(v.shape),
                                                  int(np.prod(keep))))
    axes = tuple(reduce_axes(kind, v.ndim))
    v64 = _float64(v)
    sum_sq = np.sum(np.square(v64), axis=axes, keepdims=True)
    w = _float64(g).reshape(keep) * v64 / np.sqrt(sum_sq + eps)
    return w.astype(v.dtype)


def resolve_ws_variant(variant):
    """A `WSVariant` from a name in `WS_VARIANTS` or a `WSVariant`/tuple.

    Raises:
      LayoutError: unknown variant name.
    """
    if isinstance(variant, str):
        if variant not in WS_VARIANTS:
            raise LayoutError("unknown weight-standardization variant %r; "
                              "expected one of %s"
                              % (variant, ", ".join(sorted(WS_VARIANTS))))
        return WS_VARIANTS[variant]
    variant = WSVariant(*variant)
    if variant.eps_placement not in ("std", "var"):
        raise LayoutError("eps_placement must be 'std' or 'var', got %r"
                          % (variant.eps_placement,))
    return variant


def fold_weight_standardization(kernel, kind, variant, gain=None):
    """The plain kernel a weight-standardized layer computes with.

    ``w = gain * (kernel - mean) / std`` per output channel, with the
    variance and eps of `variant` (REFERENCE.md section 4).

    Args:
      kernel: the WS layer's ``kernel`` array.
      kind: a key of `LAYER_KINDS`.
      variant: a name in `WS_VARIANTS` or a `WSVariant`.
      gain: optional per-output-channel gain.

    Returns:
      An array with `kernel`'s shape and dtype.
    """
    kernel = np.asarray(kernel)
    variant = resolve_ws_variant(variant)
    axes = tuple(reduce_axes(kind, kernel.ndim))
    k64 = _float64(kernel)
    mean = np.mean(k64, axis=axes, keepdims=True)
    count = int(np.prod([kernel.shape[a] for a in axes]))
    ddof = 1 if variant.unbiased and count > 1 else 0
    var = np.sum(np.square(k64 - mean), axis=axes, keepdims=True) / (
        count - ddof)
    if variant.eps_placement == "std":
        denom = np.sqrt(var) + variant.eps
    else:
        denom = np.sqrt(var + variant.eps)
    w = (k64 - mean) / denom
    if gain is not None:
        keep = channel_shape(kind, kernel.shape)
        gain = np.asarray(gain)
        if gain.size != int(np.prod(keep)):
            raise LayoutError("gain of shape %s does not fit a %s kernel of "
                              "shape %s" % (list(gain.shape), kind,
                                            list(kernel.shape)))
        w = w * _float64(gain).reshape(keep)
    return w.astype(kernel.dtype)


def cell_split(kernel_shape, kind):
    """Row split of a TF1 cell kernel ``[d + n, k * n]``.

    Args:
      kernel_shape: the kernel's shape.
      kind: ``lstm_cell``, ``rnn_cell``, ``gru_gates`` or ``gru_candidate``.

    Returns:
      ``(d, n)``: input size and number of units.

    Raises:
      LayoutError: the shape does not fit the kind.
    """
    blocks = CELL_KINDS.get(kind)
    if blocks is None:
        raise LayoutError("unknown cell kernel kind %r" % (kind,))
    if len(kernel_shape) != 2:
        raise LayoutError("a %s kernel must have rank 2, got shape %s"
                          % (kind, list(kernel_shape)))
    rows, cols = (int(s) for s in kernel_shape)
    if cols % blocks:
        raise LayoutError("a %s kernel needs a column count divisible by %d, "
                          "got shape %s" % (kind, blocks, [rows, cols]))
    units = cols // blocks
    if rows <= units:
        raise LayoutError("a %s kernel [d + n, %d * n] needs more than n=%d "
                          "rows, got shape %s"
                          % (kind, blocks, units, [rows, cols]))
    return rows - units, units
