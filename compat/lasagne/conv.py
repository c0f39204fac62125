"""Convolutions on NCHW activations with Lasagne weight layouts:
`Conv1DLayer`, `Conv2DLayer` (``W`` is ``(out, in, *k)``, ``flip_filters=True``
= a true convolution) and improved-gan's `Deconv2DLayer`.

TF's ``padding='SAME'`` pads asymmetrically when the total padding is odd
(e.g. stride 2 on an even size), Lasagne/Theano pad symmetrically; the layers
below always pass explicit per-side padding so the numbers match Lasagne.
The ops run in NCHW on GPU-placed layers and in NHWC between two
transposes elsewhere (TF's CPU kernels lack NCHW for several ops and
gradients).
"""
from tf1_wn import validation
from tf1_wn._tf import tf
from tf1_wn.compat.lasagne import init, nonlinearities
from tf1_wn.compat.lasagne._graph import per_axis, run_nchw
from tf1_wn.compat.lasagne.base import Layer
from tf1_wn.compat.lasagne.dense import _nonlinearity


def resolve_pad(pad, filter_size, n):
    """Lasagne's ``pad`` argument as per-axis symmetric padding.

    Args:
      pad: int, tuple of n ints, ``'valid'`` (0), ``'full'`` (k - 1) or
        ``'same'`` (k // 2; odd filter sizes only, as in Lasagne).
      filter_size: tuple of n ints.
      n: number of spatial axes.

    Returns:
      A tuple of n non-negative ints (padding on each side).

    Raises:
      ValueError: for an unknown pad or ``'same'`` with an even filter size.
    """
    if isinstance(pad, str):
        if pad == "valid":
            return (0,) * n
        if pad == "full":
            return tuple(k - 1 for k in filter_size)
        if pad == "same":
            if any(k % 2 == 0 for k in filter_size):
                raise ValueError("pad='same' requires odd filter sizes (as in "
                                 "Lasagne); got filter_size %r"
                                 % (filter_size,))
            return tuple(k // 2 for k in filter_size)
        raise ValueError("pad must be an int, a tuple of %d ints, 'valid', "
                         "'full' or 'same'; got %r" % (n, pad))
    return validation.int_tuple("pad", pad, n, allow_zero=True)


def conv_output_length(length, filter_size, stride, pad):
    """Output size of a symmetric-padded convolution (None if unknown)."""
    if length is None:
        return None
    return (length + 2 * pad - filter_size) // stride + 1


def _flip_to_hwio(W, n, flip):
    """Lasagne ``(out, in, *k)`` weight -> TF ``[*k, in, out]`` kernel."""
    spatial = list(range(2, 2 + n))
    if flip:
        W = tf.reverse(W, axis=spatial)
    return tf.transpose(W, spatial + [1, 0])


class BaseConvLayer(Layer):
    """Shared constructor of `Conv1DLayer` and `Conv2DLayer` (n spatial axes).

    Raises:
      ValueError: naming the argument for bad sizes, strides, padding, an
        input of the wrong rank or with unknown channels, or an output that
        would be empty.
    """

    def __init__(self, incoming, num_filters, filter_size, stride=1, pad=0,
                 untie_biases=False, W=init.GlorotUniform(),
                 b=init.Constant(0.), nonlinearity=nonlinearities.rectify,
                 flip_filters=True, n=None, **kwargs):
        super(BaseConvLayer, self).__init__(incoming, **kwargs)
        if len(self.input_shape) != n + 2:
            raise ValueError("%s needs a %d-D NC%s input; got input shape %r"
                             % (type(self).__name__, n + 2,
                                "HW"[-n:] if n < 3 else "DHW",
                                self.input_shape))
        if self.input_shape[1] is None:
            raise ValueError("%s needs a known channel count; got input shape "
                             "%r" % (type(self).__name__, self.input_shape))
        self.n = n
        self.num_filters = validation.positive_int("num_filters", num_filters)
        self.filter_size = validation.int_tuple("filter_size", filter_size, n)
        self.stride = validation.int_tuple("stride", stride, n)
        self.pad = resolve_pad(pad, self.filter_size, n)
        self.untie_biases = bool(untie_biases)
        self.flip_filters = bool(flip_filters)
        self.nonlinearity = _nonlinearity(nonlinearity)
        for axis, size in enumerate(self.input_shape[2:]):
            out = conv_output_length(size, self.filter_size[axis],
                                     self.stride[axis], self.pad[axis])
            if out is not None and out < 1:
                raise ValueError(
                    "%s: input size %d on spatial axis %d is too small for "
                    "filter_size %r with pad %r" % (
                        type(self).__name__, size, axis, self.filter_size,
                        self.pad))
        self.W = self.add_param(
            W, (self.num_filters, self.input_shape[1]) + self.filter_size,
            name="W")
        if b is None:
            self.b = None
        else:
            if self.untie_biases:
                spatial = self.output_shape[2:]
                if any(s is None for s in spatial):
                    raise ValueError("untie_biases needs known spatial sizes; "
                                     "got input shape %r"
                                     % (self.input_shape,))
                biases_shape = (self.num_filters,) + tuple(spatial)
            else:
                biases_shape = (self.num_filters,)
            self.b = self.add_param(b, biases_shape, name="b",
                                    regularizable=False)

    @property
    def weight_norm_axes(self):
        return tuple(range(1, self.n + 2))

    def get_output_shape_for(self, input_shape):
        spatial = tuple(
            conv_output_length(size, k, s, p) for size, k, s, p in zip(
                input_shape[2:], self.filter_size, self.stride, self.pad))
        return (input_shape[0], self.num_filters) + spatial

    def convolve(self, input):
        """The bias-free convolution of an NC(H)W input with ``self.W``."""
        n = self.n
        x, W = input, self.W
        stride, pad = self.stride, self.pad
        if n == 1:
            # conv1d as conv2d over a height-1 image.
            x = tf.expand_dims(x, 2)
            W = tf.expand_dims(W, 2)
            stride, pad = (1,) + stride, (0,) + pad
        kernel = _flip_to_hwio(W, 2, self.flip_filters)

        def conv(x, data_format):
            return tf.nn.conv2d(
                x, kernel, strides=per_axis(data_format, stride, 1),
                padding=per_axis(data_format, [[p, p] for p in pad], [0, 0]),
                data_format=data_format)
        out = run_nchw(x, conv)
        if n == 1:
            out = tf.squeeze(out, [2])
        return out

    def get_output_for(self, input, **kwargs):
        out = self.convolve(input)
        if self.b is not None:
            if self.untie_biases:
                out = out + self.b
            else:
                out = out + tf.reshape(self.b, [1, -1] + [1] * self.n)
        return self.nonlinearity(out)


class Conv1DLayer(BaseConvLayer):
    """1-D convolution of ``(N, C, L)`` input with ``W`` of shape
    ``(num_filters, C, filter_size)``.

    Args:
      incoming, num_filters, filter_size, stride, pad, untie_biases, W, b,
      nonlinearity, flip_filters, name: as `Conv2DLayer`, with 1-tuples.
    """

    def __init__(self, incoming, num_filters, filter_size, stride=1, pad=0,
                 untie_biases=False, W=init.GlorotUniform(),
                 b=init.Constant(0.), nonlinearity=nonlinearities.rectify,
                 flip_filters=True, **kwargs):
        super(Conv1DLayer, self).__init__(
            incoming, num_filters, filter_size, stride, pad, untie_biases, W,
            b, nonlinearity, flip_filters, n=1, **kwargs)


class Conv2DLayer(BaseConvLayer):
    """2-D convolution of NCHW input, Lasagne's semantics.

    Args:
      incoming: the input `Layer` (N, C, H, W).
      num_filters: output channels.
      filter_size: int or pair.
      stride: int or pair.
      pad: int, pair, ``'valid'``, ``'full'`` or ``'same'``; symmetric zero
        padding on both sides of each axis, as Lasagne pads.
      untie_biases: if True, one bias per output position.
      W: ``(num_filters, C, kh, kw)`` weight spec.
      b: bias spec or None.
      nonlinearity: callable or None for identity.
      flip_filters: True (default) for a true convolution (Lasagne/Theano's
        default); False for cross-correlation (TF's ``conv2d``).
      name: optional layer name.
    """

    def __init__(self, incoming, num_filters, filter_size, stride=(1, 1),
                 pad=0, untie_biases=False, W=init.GlorotUniform(),
                 b=init.Constant(0.), nonlinearity=nonlinearities.rectify,
                 flip_filters=True, **kwargs):
        super(Conv2DLayer, self).__init__(
            incoming, num_filters, filter_size, stride, pad, untie_biases, W,
            b, nonlinearity, flip_filters, n=2, **kwargs)


class Deconv2DLayer(Layer):
    """improved-gan's transposed convolution to a fixed ``target_shape``.

    The output is the input-gradient of a ``flip_filters=True`` convolution
    from ``target_shape`` to this layer's input with stride `stride` and
    symmetric padding ``k // 2`` (Theano ``border_mode='half'``).

    Args:
      incoming: the input `Layer` (N, C_in, H, W).
      target_shape: output shape ``(N, C_out, H_out, W_out)``; N may be None
        (the batch size then follows the input).
      filter_size: int or pair.
      stride: int or pair (default 2).
      W: weight spec of shape ``(C_in, C_out, kh, kw)`` (improved-gan's
        layout; default ``Normal(0.05)``).
      b: ``(C_out,)`` bias spec or None.
      nonlinearity: callable or None (default improved-gan's relu).
      name: optional layer name.

    Raises:
      ValueError: when the forward convolution of `target_shape` would not
        give the input's spatial size, or for a malformed argument.
    """
    weight_norm_axes = (0, 2, 3)

    def __init__(self, incoming, target_shape, filter_size, stride=(2, 2),
                 W=init.Normal(0.05), b=init.Constant(0.),
                 nonlinearity=nonlinearities.relu, **kwargs):
        super(Deconv2DLayer, self).__init__(incoming, **kwargs)
        try:
            target_shape = tuple(target_shape)
        except TypeError:
            target_shape = None
        if (target_shape is None or len(target_shape) != 4 or any(
                not isinstance(s, int) or s < 1 for s in target_shape[1:])
                or not (target_shape[0] is None or (
                    isinstance(target_shape[0], int)
                    and target_shape[0] > 0))):
            raise ValueError("target_shape must be (N, C, H, W) with positive "
                             "ints (N may be None); got %r" % (target_shape,))
        if len(self.input_shape) != 4 or self.input_shape[1] is None:
            raise ValueError("Deconv2DLayer needs a 4-D NCHW input with known "
                             "channels; got input shape %r"
                             % (self.input_shape,))
        self.target_shape = target_shape
        self.filter_size = validation.int_tuple("filter_size", filter_size, 2)
        self.stride = validation.int_tuple("stride", stride, 2)
        self.pad = tuple(k // 2 for k in self.filter_size)
        self.nonlinearity = _nonlinearity(nonlinearity)
        for axis in range(2):
            forward = conv_output_length(target_shape[2 + axis],
                                         self.filter_size[axis],
                                         self.stride[axis], self.pad[axis])
            size = self.input_shape[2 + axis]
            if size is not None and forward != size:
                raise ValueError(
                    "Deconv2DLayer: target_shape %r with filter_size %r and "
                    "stride %r maps back to spatial size %d on axis %d, but "
                    "the input has %d" % (target_shape, self.filter_size,
                                          self.stride, forward, axis + 2,
                                          size))
        self.W_shape = (self.input_shape[1],
                        target_shape[1]) + self.filter_size
        self.W = self.add_param(W, self.W_shape, name="W")
        self.b = (None if b is None else self.add_param(
            b, (target_shape[1],), name="b", regularizable=False))

    def get_output_shape_for(self, input_shape):
        batch = self.target_shape[0]
        if batch is None:
            batch = input_shape[0]
        return (batch,) + tuple(self.target_shape[1:])

    def get_output_for(self, input, **kwargs):
        # W is the (out=C_in, in=C_out) kernel of the forward conv; flipped
        # and transposed it is conv2d_transpose's [kh, kw, C_out, C_in].
        kernel = _flip_to_hwio(self.W, 2, True)

        def deconv(x, data_format):
            batch = tf.shape(x)[0]
            out_shape = tf.stack([batch] + per_axis(
                data_format, self.target_shape[2:], self.target_shape[1])[1:])
            return tf.nn.conv2d_transpose(
                x, kernel, out_shape,
                strides=per_axis(data_format, self.stride, 1),
                padding=per_axis(data_format, [[p, p] for p in self.pad],
                                 [0, 0]), data_format=data_format)
        out = run_nchw(input, deconv)
        if self.b is not None:
            out = out + tf.reshape(self.b, [1, -1, 1, 1])
        return self.nonlinearity(out)
