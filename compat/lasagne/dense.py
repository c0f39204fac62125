"""`DenseLayer` and `NINLayer` (Lasagne's ``dense.py``); weights
``(in, out)``."""
import numpy as np

from tf1_wn import validation
from tf1_wn._tf import tf
from tf1_wn.compat.lasagne import init, nonlinearities
from tf1_wn.compat.lasagne.base import Layer


def _nonlinearity(value):
    """A layer's nonlinearity: the callable, or Lasagne's identity for
    None."""
    return validation.check_callable(
        "nonlinearity", value,
        example="lasagne.nonlinearities.rectify") or nonlinearities.identity


class DenseLayer(Layer):
    """Fully connected layer: ``nonlinearity(flatten(x) . W + b)``.

    Input of rank > 2 is flattened per example in C, H, W order (row-major on
    NCHW), as Lasagne does.

    Args:
      incoming: the input `Layer`; its non-batch sizes must be known.
      num_units: number of output units.
      W: initializer, array or variable for the ``(num_inputs, num_units)``
        weight.
      b: same for the ``(num_units,)`` bias, or None for no bias.
      nonlinearity: callable, or None for identity.
      num_leading_axes: only 1 (Lasagne's default) is supported.
      name: optional layer name.

    Raises:
      ValueError: for a bad num_units or an input of unknown size.
    """
    # Axes of W the weight norm sums over; the rest index output channels.
    weight_norm_axes = (0,)

    def __init__(self, incoming, num_units, W=init.GlorotUniform(),
                 b=init.Constant(0.), nonlinearity=nonlinearities.rectify,
                 num_leading_axes=1, **kwargs):
        super(DenseLayer, self).__init__(incoming, **kwargs)
        if num_leading_axes != 1:
            raise NotImplementedError("num_leading_axes must be 1; got %r"
                                      % (num_leading_axes,))
        self.num_units = validation.positive_int("num_units", num_units)
        self.nonlinearity = _nonlinearity(nonlinearity)
        if len(self.input_shape) < 2 or any(
                s is None for s in self.input_shape[1:]):
            raise ValueError("DenseLayer needs an input of rank >= 2 with "
                             "known non-batch sizes; got input shape %r"
                             % (self.input_shape,))
        self.num_inputs = int(np.prod(self.input_shape[1:]))
        self.W = self.add_param(W, (self.num_inputs, self.num_units), name="W")
        self.b = (None if b is None else self.add_param(
            b, (self.num_units,), name="b", regularizable=False))

    def get_output_shape_for(self, input_shape):
        return (input_shape[0], self.num_units)

    def get_output_for(self, input, **kwargs):
        if input.shape.ndims > 2:
            input = tf.reshape(input, [-1, self.num_inputs])
        activation = tf.matmul(input, self.W)
        if self.b is not None:
            activation = activation + self.b
        return self.nonlinearity(activation)


class NINLayer(Layer):
    """Network-in-network layer: a dense layer over axis 1 (channels) applied
    at every position: ``(N, C, ...) -> (N, num_units, ...)``.

    Args:
      incoming: the input `Layer`; its channel count must be known.
      num_units: output channels.
      untie_biases: if True, ``b`` has shape
        ``(num_units,) + input_shape[2:]``.
      W: ``(C, num_units)`` weight spec.
      b: bias spec or None.
      nonlinearity: callable or None for identity.
      name: optional layer name.
    """
    weight_norm_axes = (0,)

    def __init__(self, incoming, num_units, untie_biases=False,
                 W=init.GlorotUniform(), b=init.Constant(0.),
                 nonlinearity=nonlinearities.rectify, **kwargs):
        super(NINLayer, self).__init__(incoming, **kwargs)
        self.num_units = validation.positive_int("num_units", num_units)
        self.nonlinearity = _nonlinearity(nonlinearity)
        self.untie_biases = bool(untie_biases)
        if len(self.input_shape) < 2 or self.input_shape[1] is None:
            raise ValueError("NINLayer needs an input of rank >= 2 with a "
                             "known channel count; got input shape %r"
                             % (self.input_shape,))
        num_input_channels = self.input_shape[1]
        self.W = self.add_param(W, (num_input_channels, self.num_units),
                                name="W")
        if b is None:
            self.b = None
        else:
            if self.untie_biases:
                if any(s is None for s in self.input_shape[2:]):
                    raise ValueError("untie_biases needs known spatial sizes; "
                                     "got input shape %r"
                                     % (self.input_shape,))
                biases_shape = (self.num_units,) + tuple(self.input_shape[2:])
            else:
                biases_shape = (self.num_units,)
            self.b = self.add_param(b, biases_shape, name="b",
                                    regularizable=False)

    def get_output_shape_for(self, input_shape):
        return (input_shape[0], self.num_units) + tuple(input_shape[2:])

    def get_output_for(self, input, **kwargs):
        rank = input.shape.ndims
        # tensordot puts the new axis last; move it to position 1.
        out = tf.tensordot(input, self.W, [[1], [0]])
        out = tf.transpose(out, [0, rank - 1] + list(range(1, rank - 1)))
        if self.b is not None:
            if self.untie_biases:
                out = out + self.b
            else:
                out = out + tf.reshape(self.b, [1, -1] + [1] * (rank - 2))
        return self.nonlinearity(out)
