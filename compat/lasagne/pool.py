"""2-D pooling over NCHW activations: `Pool2DLayer` and `MaxPool2DLayer`,
as ``lasagne.layers.pool`` with ``ignore_border=True`` and no padding (the
settings of the ported models; the others raise instead of computing
something else).  Runs in NCHW on GPU-placed layers, elsewhere in NHWC
between two transposes, like the convs."""
from tf1_wn import validation
from tf1_wn._tf import tf
from tf1_wn.compat.lasagne._graph import per_axis, run_nchw
from tf1_wn.compat.lasagne.base import Layer

POOL_MODES = ("max", "average_inc_pad", "average_exc_pad")


def pool_output_length(length, pool_size, stride):
    """Lasagne's output length with ``ignore_border=True`` and no padding."""
    if length is None:
        return None
    return (length - pool_size) // stride + 1


class Pool2DLayer(Layer):
    """Pools windows of the last two axes of ``(N, C, H, W)`` inputs.

    Args:
      incoming: the input `Layer` (rank 4, NCHW).
      pool_size: int or pair.
      stride: int or pair; default `pool_size` (non-overlapping windows).
      pad: only ``(0, 0)``.
      ignore_border: only True (windows that do not fit are dropped).
      mode: ``'max'``, ``'average_inc_pad'`` or ``'average_exc_pad'`` (the
        two averages agree without padding).
      name: optional name.

    Raises:
      ValueError: a rank other than 4, a window larger than the input, a
        non-zero `pad`, ``ignore_border=False`` or an unknown `mode`.
    """

    def __init__(self, incoming, pool_size, stride=None, pad=(0, 0),
                 ignore_border=True, mode="max", **kwargs):
        super(Pool2DLayer, self).__init__(incoming, **kwargs)
        kind = type(self).__name__
        if len(self.input_shape) != 4:
            raise ValueError("%s needs (N, C, H, W) input; got input shape %r"
                             % (kind, self.input_shape))
        if mode not in POOL_MODES:
            raise ValueError("%s: mode must be one of %s; got %r"
                             % (kind, ", ".join(POOL_MODES), mode))
        if validation.int_tuple("pad", pad, 2, allow_zero=True) != (0, 0):
            raise ValueError("%s: pad=%r is not supported; only (0, 0)"
                             % (kind, pad))
        if ignore_border is not True:
            raise ValueError("%s: ignore_border=%r is not supported; only "
                             "True" % (kind, ignore_border))
        self.pool_size = validation.int_tuple("pool_size", pool_size, 2)
        self.stride = (self.pool_size if stride is None
                       else validation.int_tuple("stride", stride, 2))
        self.pad = (0, 0)
        self.ignore_border = True
        self.mode = mode
        for size, window in zip(self.input_shape[2:], self.pool_size):
            if size is not None and window > size:
                raise ValueError("%s: pool_size %r is larger than the input "
                                 "(%r)" % (kind, self.pool_size,
                                           self.input_shape[2:]))

    def get_output_shape_for(self, input_shape):
        return tuple(input_shape[:2]) + tuple(
            pool_output_length(length, window, stride)
            for length, window, stride in zip(input_shape[2:],
                                              self.pool_size, self.stride))

    def get_output_for(self, input, **kwargs):
        pool = tf.nn.max_pool2d if self.mode == "max" else tf.nn.avg_pool2d

        def pooled(x, data_format):
            return pool(x, ksize=per_axis(data_format, self.pool_size, 1),
                        strides=per_axis(data_format, self.stride, 1),
                        padding="VALID", data_format=data_format)
        return run_nchw(input, pooled)


class MaxPool2DLayer(Pool2DLayer):
    """`Pool2DLayer` with ``mode='max'``."""

    def __init__(self, incoming, pool_size, stride=None, pad=(0, 0),
                 ignore_border=True, **kwargs):
        super(MaxPool2DLayer, self).__init__(
            incoming, pool_size, stride=stride, pad=pad,
            ignore_border=ignore_border, mode="max", **kwargs)
