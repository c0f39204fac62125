"""In-graph conversion helpers: weight-normalize or fold variables without
going through checkpoint files.

Typical use: build the tf1_wn model, restore the plain model's kernels into
it by running `assign_from_kernel` with the old kernel values (a restored
variable, a constant or a placeholder), or export by evaluating
`folded_kernel`.
"""
from tf1_wn import kernel_kinds
from tf1_wn import normalization
from tf1_wn._tf import tf


def _kind_for(kind, rank):
    if kind is None:
        kind = kernel_kinds.default_kind(rank)
        if kind is None:
            raise ValueError("kind=None needs a kernel of rank 2..5, got rank "
                             "%d" % rank)
    kernel_kinds.check_kind(kind, [None] * rank)
    return kind


def _static_rank(tensor, what):
    rank = tensor.shape.ndims
    if rank is None:
        raise ValueError("%s must have a known rank, got %s" % (what, tensor))
    return rank


def kernel_norm(kernel, kind=None, eps=0.0):
    """Per-output-channel norm ``sqrt(sum(kernel**2) + eps)``, shape ``[C]``.

    Args:
      kernel: tensor in a plain TF layout.
      kind: a `tf1_wn.kernel_kinds.LAYER_KINDS` key; None means dense for
        rank 2 and ``conv1d/2d/3d`` (channels last) for ranks 3-5.  Pass
        ``'conv2d_transpose'`` or ``'depthwise_conv2d'`` for those layouts.
      eps: added to the sum of squares.

    Returns:
      A 1-D tensor in `kernel`'s dtype (computed in float32 for 16-bit).
    """
    kernel = tf.convert_to_tensor(kernel)
    kind = _kind_for(kind, _static_rank(kernel, "kernel"))
    axes = kernel_kinds.reduce_axes(kind, kernel.shape.ndims)
    stats = tf.cast(kernel, normalization.statistics_dtype(kernel.dtype))
    norm = tf.sqrt(tf.reduce_sum(tf.square(stats), axis=axes) + eps)
    return tf.cast(tf.reshape(norm, [-1]), kernel.dtype)


def assign_from_kernel(v, g, kernel, kind=None, eps=0.0, name=None):
    """An op setting ``v = kernel`` and ``g = ||kernel||`` per output channel.

    Afterwards the weight-normalized layer computes what a plain layer with
    `kernel` computes (up to the layer's eps: relative error
    ``0.5 * eps / ||kernel||**2``).  `kernel` is read before either write, so
    ``assign_from_kernel(v, g, v)`` works.

    Args:
      v: the layer's ``v`` variable.
      g: the layer's ``g`` variable (shape ``[out_channels]``).
      kernel: a tensor (or variable) in `v`'s layout.
      kind: kernel kind, see `kernel_norm`.
      eps: added to the sum of squares of g (pass the layer's eps to make the
        layer reproduce `kernel` exactly).
      name: optional name of the returned op.

    Returns:
      A grouped op.

    Raises:
      ValueError: shapes of `v`, `g` and `kernel` do not fit `kind`.
    """
    kernel = tf.convert_to_tensor(kernel)
    if not v.shape.is_compatible_with(kernel.shape):
        raise ValueError("v of shape %s cannot take a kernel of shape %s"
                         % (v.shape, kernel.shape))
    norm = kernel_norm(kernel, kind, eps)
    if not g.shape.is_compatible_with(norm.shape):
        raise ValueError("g of shape %s does not fit the %s kernel of shape "
                         "%s (needs %s)" % (g.shape, kind, kernel.shape,
                                            norm.shape))
    with tf.name_scope(name, "assign_from_kernel"):
        value = tf.identity(kernel)
        norm = tf.identity(norm)
        with tf.control_dependencies([value, norm]):
            return tf.group(tf.assign(v, tf.cast(value, v.dtype.base_dtype)),
                            tf.assign(g, tf.cast(norm, g.dtype.base_dtype)))


def folded_kernel(v, g, kind=None, eps=normalization.DEFAULT_EPS):
    """The plain kernel ``g * v / sqrt(sum(v**2) + eps)`` of a WN layer.

    Args:
      v, g: the layer's variables (or tensors).
      kind: kernel kind, see `kernel_norm`.
      eps: the layer's eps (library default `normalization.DEFAULT_EPS`).

    Returns:
      A tensor with `v`'s shape and dtype.
    """
    v = tf.convert_to_tensor(v)
    kind = _kind_for(kind, _static_rank(v, "v"))
    return normalization.normalize_weight(
        v, g, kernel_kinds.reduce_axes(kind, v.shape.ndims), eps)


def assign_cell_from_kernel(input_v, input_g, recurrent_v, recurrent_g,
                            kernel, eps=0.0, name=None):
    """Sets a WN cell's variables from a TF1 cell kernel ``[d + n, k * n]``.

    The first ``d = input_v.shape[0]`` rows become the input projection, the
    rest the recurrent one (TF1 cells concatenate ``[x, h]``).

    Returns:
      A grouped op.

    Raises:
      ValueError: the shapes do not fit.
    """
    kernel = tf.convert_to_tensor(kernel)
    d = input_v.shape.as_list()[0]
    if d is None:
        raise ValueError("input_v must have a known first dimension")
    with tf.name_scope(name, "assign_cell_from_kernel"):
        return tf.group(
            assign_from_kernel(input_v, input_g, kernel[:d], "dense", eps),
            assign_from_kernel(recurrent_v, recurrent_g, kernel[d:], "dense",
                               eps))


def folded_cell_kernel(input_v, input_g, recurrent_v, recurrent_g,
                       eps=normalization.DEFAULT_EPS):
    """The TF1 cell kernel ``concat([Wx, Wh], 0)`` of a WN cell."""
    return tf.concat([folded_kernel(input_v, input_g, "dense", eps),
                      folded_kernel(recurrent_v, recurrent_g, "dense", eps)],
                     axis=0)
