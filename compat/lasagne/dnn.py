"""``lasagne.layers.dnn``: the cuDNN layer names the research scripts use,
on TensorFlow's own kernels (any device).

Lasagne's dnn layers differ from the generic ones in their defaults only:
`Conv2DDNNLayer` computes a cross-correlation (``flip_filters=False``), and
the pooling layers take the same arguments as `Pool2DLayer`.
"""
from tf1_wn.compat.lasagne import init, nonlinearities
from tf1_wn.compat.lasagne.conv import Conv2DLayer
from tf1_wn.compat.lasagne.pool import Pool2DLayer
from tf1_wn.compat.lasagne.utils import as_tuple


class Conv2DDNNLayer(Conv2DLayer):
    """`Conv2DLayer` with cuDNN's default ``flip_filters=False`` (a
    cross-correlation, as the scripts' convolutions are); ``W`` keeps
    Lasagne's ``(out, in, kh, kw)`` layout.  Arguments as `Conv2DLayer`."""

    def __init__(self, incoming, num_filters, filter_size, stride=(1, 1),
                 pad=0, untie_biases=False, W=init.GlorotUniform(),
                 b=init.Constant(0.), nonlinearity=nonlinearities.rectify,
                 flip_filters=False, **kwargs):
        super(Conv2DDNNLayer, self).__init__(
            incoming, num_filters, filter_size, stride=stride, pad=pad,
            untie_biases=untie_biases, W=W, b=b, nonlinearity=nonlinearity,
            flip_filters=flip_filters, **kwargs)


class Pool2DDNNLayer(Pool2DLayer):
    """Lasagne's dnn pooling; arguments and supported settings as
    `Pool2DLayer`."""


class MaxPool2DDNNLayer(Pool2DDNNLayer):
    """Max pooling (``Pool2DDNNLayer`` with ``mode='max'``)."""

    def __init__(self, incoming, pool_size, stride=None, pad=(0, 0),
                 ignore_border=True, **kwargs):
        super(MaxPool2DDNNLayer, self).__init__(
            incoming, pool_size, stride, pad, ignore_border, mode="max",
            **kwargs)


__all__ = ["Conv2DDNNLayer", "Pool2DDNNLayer", "MaxPool2DDNNLayer",
           "as_tuple"]
