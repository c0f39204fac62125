"""Parameter-free layers that reshape or pool: `ReshapeLayer`,
`GlobalPoolLayer`, plus `NonlinearityLayer`."""
import numbers

import numpy as np

from tf1_wn import validation
from tf1_wn._tf import tf
from tf1_wn.compat.lasagne import nonlinearities
from tf1_wn.compat.lasagne.base import Layer
from tf1_wn.compat.lasagne.dense import _nonlinearity
from tf1_wn.compat.lasagne.reductions import theano_mean


class ReshapeLayer(Layer):
    """Reshapes with Lasagne's spec: each entry an int, ``-1`` (inferred, at
    most once) or ``[i]`` (the size of input axis i).

    Args:
      incoming: the input `Layer`.
      shape: the target shape spec.
      name: optional layer name.

    Raises:
      ValueError: for a malformed spec or, with known sizes, a total size
        that does not match.
    """

    def __init__(self, incoming, shape, **kwargs):
        super(ReshapeLayer, self).__init__(incoming, **kwargs)
        try:
            shape = tuple(shape)
        except TypeError:
            raise ValueError("shape must be a tuple; got %r" % (shape,))
        for s in shape:
            if isinstance(s, (list, tuple)):
                if (len(s) != 1 or not isinstance(s[0], numbers.Integral)
                        or not 0 <= s[0] < len(self.input_shape)):
                    raise ValueError("shape: a reference must be [i] with i "
                                     "an "
                                     "input axis; got %r in %r" % (s, shape))
            elif not isinstance(s, numbers.Integral) or s < -1 or s == 0:
                raise ValueError("shape entries must be positive ints, -1 or "
                                 "[i]; got %r in %r" % (s, shape))
        if sum(1 for s in shape if s == -1 and not isinstance(s, list)) > 1:
            raise ValueError("shape can contain at most one -1; got %r"
                             % (shape,))
        self.shape = shape
        self.get_output_shape_for(self.input_shape)

    def get_output_shape_for(self, input_shape):
        out = [input_shape[s[0]] if isinstance(s, (list, tuple)) else s
               for s in self.shape]
        # Sizes copied with [i] cancel out, so -1 can be inferred even when
        # those sizes (e.g. the batch) are unknown.
        referenced = {s[0] for s in self.shape if isinstance(s, (list, tuple))}
        rest_in = [d for i, d in enumerate(input_shape) if i not in referenced]
        rest_out = [s for s in self.shape if not isinstance(s, (list, tuple))]
        if any(d is None for d in rest_in):
            return tuple(None if s == -1 else s for s in out)
        total = int(np.prod(rest_in))
        known = int(np.prod([s for s in rest_out if s != -1]))
        if -1 in rest_out:
            if total % known:
                raise ValueError("ReshapeLayer: cannot reshape %r to %r"
                                 % (input_shape, self.shape))
            out[[i for i, s in enumerate(self.shape)
                 if not isinstance(s, (list, tuple)) and s == -1][0]] = (
                     total // known)
        elif known != total:
            raise ValueError("ReshapeLayer: cannot reshape %r to %r"
                             % (input_shape, self.shape))
        return tuple(out)

    def get_output_for(self, input, **kwargs):
        dynamic = tf.shape(input)
        target = [dynamic[s[0]] if isinstance(s, (list, tuple)) else s
                  for s in self.shape]
        return tf.reshape(input, tf.stack(target))


class GlobalPoolLayer(Layer):
    """Pools every axis after the first two: ``(N, C, ...) -> (N, C)``.

    Args:
      incoming: the input `Layer`.
      pool_function: called as ``pool_function(x, axis=2)`` on the input
        reshaped to ``(N, C, -1)``; default `theano_mean` (Lasagne's
        ``T.mean``), e.g. `tf.reduce_max` for max pooling.
      name: optional layer name.
    """

    def __init__(self, incoming, pool_function=theano_mean, **kwargs):
        super(GlobalPoolLayer, self).__init__(incoming, **kwargs)
        validation.check_callable("pool_function", pool_function,
                                  example="tf.reduce_max", allow_none=False)
        if len(self.input_shape) < 3:
            raise ValueError("GlobalPoolLayer needs rank >= 3 input; got "
                             "input shape %r" % (self.input_shape,))
        self.pool_function = pool_function

    def get_output_shape_for(self, input_shape):
        return tuple(input_shape[:2])

    def get_output_for(self, input, **kwargs):
        channels = self.input_shape[1]
        flat = tf.reshape(input, [tf.shape(input)[0],
                                  -1 if channels is None else channels, -1])
        return self.pool_function(flat, axis=2)


class NonlinearityLayer(Layer):
    """Applies `nonlinearity` (default rectify; None means identity)."""

    def __init__(self, incoming, nonlinearity=nonlinearities.rectify,
                 **kwargs):
        super(NonlinearityLayer, self).__init__(incoming, **kwargs)
        self.nonlinearity = _nonlinearity(nonlinearity)

    def get_output_for(self, input, **kwargs):
        return self.nonlinearity(input)
