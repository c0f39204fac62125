"""Stochastic layers, identity when ``deterministic=True``: `DropoutLayer`,
`GaussianNoiseLayer`."""
from tf1_wn._tf import tf
from tf1_wn.compat.lasagne.base import Layer
from tf1_wn.compat.lasagne.random import get_rng

#: Lasagne seeds each noise layer's Theano stream with
#: ``get_rng().randint(1, SEED_BOUND)`` in its constructor.
SEED_BOUND = 2147462579


def _draw_stream_seed():
    """Consumes one draw of `lasagne.random`, as Lasagne's (and
    improved-gan's) noise-layer constructors do, so every layer built after
    a noise layer gets Lasagne's seeded initial values.  The noise itself
    comes from TensorFlow's random ops."""
    return int(get_rng().randint(1, SEED_BOUND))


class DropoutLayer(Layer):
    """Zeroes inputs with probability `p` (Lasagne semantics).

    Args:
      incoming: the input `Layer`.
      p: drop probability in [0, 1).
      rescale: if True, scale kept values by ``1 / (1 - p)``.
      shared_axes: axes sharing one mask value (e.g. ``(2, 3)`` drops whole
        channels).
      name: optional layer name.

    Raises:
      ValueError: for p outside [0, 1) or a bad axis.
    """

    def __init__(self, incoming, p=0.5, rescale=True, shared_axes=(),
                 **kwargs):
        super(DropoutLayer, self).__init__(incoming, **kwargs)
        self.seed = _draw_stream_seed()
        p = float(p)
        if not 0.0 <= p < 1.0:
            raise ValueError("p must be in [0, 1); got %r" % p)
        rank = len(self.input_shape)
        shared_axes = tuple(shared_axes)
        if any(not -rank <= a < rank for a in shared_axes):
            raise ValueError("shared_axes must be axes of the rank-%d input; "
                             "got %r" % (rank, shared_axes))
        self.p = p
        self.rescale = bool(rescale)
        self.shared_axes = tuple(a % rank for a in shared_axes)

    def get_output_for(self, input, deterministic=False, **kwargs):
        if deterministic or self.p == 0:
            return input
        keep = 1.0 - self.p
        if self.rescale:
            input = input / tf.constant(keep, dtype=input.dtype)
        shape = tf.shape(input)
        if self.shared_axes:
            shape = tf.stack([1 if a in self.shared_axes else shape[a]
                              for a in range(input.shape.ndims)])
        mask = tf.cast(tf.random_uniform(shape, dtype=input.dtype) < keep,
                       input.dtype)
        return input * mask


class GaussianNoiseLayer(Layer):
    """Adds N(0, sigma^2) noise (improved-gan's version, with
    ``use_last_noise``).

    Args:
      incoming: the input `Layer`.
      sigma: noise standard deviation (>= 0).
      name: optional layer name.
    """

    def __init__(self, incoming, sigma=0.1, **kwargs):
        super(GaussianNoiseLayer, self).__init__(incoming, **kwargs)
        self.seed = _draw_stream_seed()
        if sigma < 0:
            raise ValueError("sigma must be non-negative; got %r" % (sigma,))
        self.sigma = sigma
        self.noise = None

    def get_output_for(self, input, deterministic=False, use_last_noise=False,
                       **kwargs):
        if deterministic or self.sigma == 0:
            return input
        if not use_last_noise or self.noise is None:
            self.noise = tf.random_normal(tf.shape(input), stddev=self.sigma,
                                          dtype=input.dtype)
        return input + self.noise
