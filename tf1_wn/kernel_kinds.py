"""The kernel kinds and weight-standardization variants: one table each.

Pure Python (no TensorFlow, no NumPy), so the checkpoint tools, the layers
and the command line read the same facts.

A *kind* names a kernel layout.  Its *channel axes* are the axes of the
output channels: one ``g`` (or ``gain``) entry per output channel, the
channels flattened in row-major order.  A per-output-channel statistic
(the weight norm, the standardization's mean and variance) reduces over
every other axis, the *reduce axes* (see docs/design.md):

==========================  ========================  =================
kind                        layout                    channel axes
==========================  ========================  =================
``dense``                   ``[in, out]``             ``(1,)``
``conv1d/2d/3d``            ``[*k, in, out]``         the last
``conv1d/2d/3d_transpose``  ``[*k, out, in]``         the one before last
``depthwise_conv2d``        ``[kh, kw, in, mult]``    ``(2, 3)``
==========================  ========================  =================

Recurrent-cell kinds (``lstm_cell``, ``rnn_cell``, ``gru_cell``) describe a
TF1 cell kernel ``[d + n, k * n]``: its rows split into an input part
``[:d]`` and a recurrent part ``[d:]``, each a ``dense`` kernel.
"""
import collections
import math
import numbers

from tf1_wn.errors import LayoutError

#: One kernel layout: its rank, its layout for messages and its
#: output-channel axes.
KernelKind = collections.namedtuple(
    "KernelKind", ["rank", "layout", "channel_axes"])

#: Layer kernel kinds.
LAYER_KINDS = {
    "dense": KernelKind(2, "[in, out]", (1,)),
    "conv1d": KernelKind(3, "[k, in, out]", (2,)),
    "conv2d": KernelKind(4, "[kh, kw, in, out]", (3,)),
    "conv3d": KernelKind(5, "[kd, kh, kw, in, out]", (4,)),
    "conv1d_transpose": KernelKind(3, "[k, out, in]", (1,)),
    "conv2d_transpose": KernelKind(4, "[kh, kw, out, in]", (2,)),
    "conv3d_transpose": KernelKind(5, "[kd, kh, kw, out, in]", (3,)),
    "depthwise_conv2d": KernelKind(4, "[kh, kw, in, multiplier]", (2, 3)),
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

#: Kinds a user may name in a layout hint (``REGEX=KIND``).
HINT_KINDS = tuple(sorted(set(LAYER_KINDS) | {"lstm_cell", "rnn_cell",
                                              "gru_cell"}))

_DEFAULT_BY_RANK = {2: "dense", 3: "conv1d", 4: "conv2d", 5: "conv3d"}
_TRANSPOSE_BY_RANK = {3: "conv1d_transpose", 4: "conv2d_transpose",
                      5: "conv3d_transpose"}


def default_kind(rank, transposed=False):
    """The layer kind a kernel of `rank` has when nothing else is known.

    Args:
      rank: the kernel's rank (2..5).
      transposed: whether the layer is a transposed convolution.

    Returns:
      A key of `LAYER_KINDS`, or None for an unsupported rank.
    """
    table = _TRANSPOSE_BY_RANK if transposed else _DEFAULT_BY_RANK
    return table.get(rank)


def check_kind(kind, shape):
    """Checks that a layer `kind` fits a kernel of `shape`.

    Args:
      kind: a key of `LAYER_KINDS`.
      shape: the kernel's shape (entries may be None).

    Returns:
      The `KernelKind`.

    Raises:
      LayoutError: unknown kind or wrong rank.
    """
    if kind not in LAYER_KINDS:
        raise LayoutError(
            f"unknown kernel kind {kind!r}; expected one of "
            f"{', '.join(sorted(LAYER_KINDS))}")
    entry = LAYER_KINDS[kind]
    if len(shape) != entry.rank:
        raise LayoutError(
            f"kernel kind {kind!r} needs a rank-{entry.rank} kernel "
            f"{entry.layout}, got shape {list(shape)}")
    return entry


def reduce_axes(kind, rank=None):
    """The axes a per-output-channel statistic of a `kind` kernel reduces.

    Args:
      kind: a key of `LAYER_KINDS`.
      rank: the kernel's rank, checked against the kind's when given.

    Returns:
      A list of axes: every axis but the kind's channel axes.

    Raises:
      LayoutError: unknown kind, or a `rank` the kind does not have.
    """
    entry = LAYER_KINDS.get(kind)
    if entry is None or rank is not None:
        entry = check_kind(kind, [None] * (rank or 0))
    return [axis for axis in range(entry.rank)
            if axis not in entry.channel_axes]


def channel_shape(kind, shape):
    """The kept-dims shape of the per-channel statistics (g broadcasts to it).

    Args:
      kind: a key of `LAYER_KINDS`.
      shape: the kernel's shape.

    Returns:
      A list, 1 on every reduced axis.

    Raises:
      LayoutError: as `check_kind`.
    """
    channel_axes = check_kind(kind, shape).channel_axes
    return [int(size) if axis in channel_axes else 1
            for axis, size in enumerate(shape)]


def num_channels(kind, shape):
    """The number of output channels (the size of g) of a `kind` kernel."""
    return math.prod(channel_shape(kind, shape))


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
        raise LayoutError(f"unknown cell kernel kind {kind!r}")
    if len(kernel_shape) != 2:
        raise LayoutError(f"a {kind} kernel must have rank 2, got shape "
                          f"{list(kernel_shape)}")
    rows, cols = (int(s) for s in kernel_shape)
    if cols % blocks:
        raise LayoutError(f"a {kind} kernel needs a column count divisible "
                          f"by {blocks}, got shape {[rows, cols]}")
    units = cols // blocks
    if rows <= units:
        raise LayoutError(f"a {kind} kernel [d + n, {blocks} * n] needs more "
                          f"than n={units} rows, got shape {[rows, cols]}")
    return rows - units, units


# -- weight standardization ---------------------------------------------

#: A resolved weight-standardization configuration: ``eps`` (> 0), where
#: it goes (``'std'``: ``(w - mean) / (std + eps)``; ``'var'``:
#: ``(w - mean) / sqrt(var + eps)``) and whether the variance divides by
#: ``n - 1``.
WSVariant = collections.namedtuple(
    "WSVariant", ["eps", "eps_placement", "unbiased"])

#: The published variants (docs/design.md, "Weight standardization").
WS_VARIANTS = {
    "paper": WSVariant(1e-5, "std", True),
    "paper_tf": WSVariant(1e-5, "std", False),
    "bit": WSVariant(1e-10, "var", False),
    "timm": WSVariant(1e-6, "var", False),
}

EPS_PLACEMENTS = ("std", "var")


def resolve_ws_variant(variant="paper", eps=None, eps_placement=None,
                       unbiased=None):
    """Combines a named variant with explicit overrides.

    Args:
      variant: a key of `WS_VARIANTS`, a `WSVariant` (or a 3-tuple), or
        None to give all of `eps`, `eps_placement` and `unbiased`.
      eps: positive finite float; overrides the variant's.
      eps_placement: ``'std'`` or ``'var'``; overrides the variant's.
      unbiased: bool, divide the variance by ``n - 1`` instead of ``n``;
        overrides the variant's.

    Returns:
      A `WSVariant`.

    Raises:
      ValueError: for an unknown variant or placement, a
        non-positive or non-finite eps, a non-bool unbiased, or
        ``variant=None`` without all three explicit values.
    """
    if variant is None:
        missing = [name for name, value in (
            ("eps", eps), ("eps_placement", eps_placement),
            ("unbiased", unbiased)) if value is None]
        if missing:
            raise ValueError(
                "`variant=None` needs explicit eps, eps_placement and "
                f"unbiased; missing: {', '.join(missing)}.")
        defaults = WSVariant(None, None, None)
    elif isinstance(variant, str):
        if variant not in WS_VARIANTS:
            raise ValueError(
                f"`variant` must be one of "
                f"{', '.join(repr(v) for v in WS_VARIANTS)} or None, got "
                f"{variant!r}.")
        defaults = WS_VARIANTS[variant]
    elif isinstance(variant, tuple) and len(variant) == 3:
        defaults = WSVariant(*variant)
    else:
        raise ValueError(
            f"`variant` must be one of "
            f"{', '.join(repr(v) for v in WS_VARIANTS)}, a WSVariant or "
            f"None, got {variant!r}.")
    eps = defaults.eps if eps is None else eps
    if (isinstance(eps, bool) or not isinstance(eps, numbers.Real)
            or not 0 < eps < float("inf")):
        raise ValueError(
            f"`eps` must be a positive finite number, got {eps!r} (eps = 0 "
            "would turn a constant kernel channel into NaN).")
    placement = defaults.eps_placement if eps_placement is None \
        else eps_placement
    if placement not in EPS_PLACEMENTS:
        raise ValueError(
            "`eps_placement` must be 'std' ((w - mean) / (std + eps)) or "
            f"'var' ((w - mean) / sqrt(var + eps)), got {placement!r}.")
    unbiased = defaults.unbiased if unbiased is None else unbiased
    if not isinstance(unbiased, bool):
        raise ValueError(
            f"`unbiased` must be True or False, got {unbiased!r}.")
    return WSVariant(float(eps), placement, unbiased)


def check_ws_channel_size(variant, size, shape):
    """Checks that an unbiased variance has at least 2 entries per channel.

    Args:
      variant: a resolved `WSVariant`.
      size: the number of kernel entries per output channel.
      shape: the kernel's shape, for the message.

    Raises:
      ValueError: `variant.unbiased` with fewer than 2 entries.
    """
    if variant.unbiased and size < 2:
        raise ValueError(
            f"`unbiased=True` needs at least 2 kernel entries per output "
            f"channel, got {size} (kernel shape {list(shape)}); use a biased "
            "variant ('paper_tf', 'bit', 'timm') or unbiased=False.")
