"""Lasagne's nonlinearities as TF ops.

``rectify``/``relu`` and the leaky variants are ``tf.maximum(x, a * x)``:
forward values equal Theano's, and at exactly ``x == 0`` the gradient is 1,
as for improved-gan's ``T.maximum(x, 0)`` (``tf.nn.relu`` would give 0).
Lasagne's own ``rectify`` went through ``T.nnet.relu`` = ``0.5 * (x + |x|)``,
whose gradient at exactly 0 is 0.5; see docs/porting-lasagne.md.
"""
from tf1_wn._tf import tf


def identity(x):
    """Returns `x` unchanged."""
    return x


linear = identity


def rectify(x):
    """``max(x, 0)``, gradient 1 at 0 (Theano ``T.maximum`` tie rule)."""
    return tf.maximum(x, tf.zeros([], dtype=x.dtype))


relu = rectify


class LeakyRectify(object):
    """``max(x, leakiness * x)`` for ``0 <= leakiness <= 1``.

    Args:
      leakiness: slope for negative inputs (Lasagne default 0.01).

    Raises:
      ValueError: if leakiness is outside [0, 1].
    """

    def __init__(self, leakiness=0.01):
        leakiness = float(leakiness)
        if not 0.0 <= leakiness <= 1.0:
            raise ValueError("leakiness must be in [0, 1]; got %r" % leakiness)
        self.leakiness = leakiness

    def __call__(self, x):
        return tf.maximum(x, tf.constant(self.leakiness, dtype=x.dtype) * x)


leaky_rectify = LeakyRectify(0.01)
very_leaky_rectify = LeakyRectify(1.0 / 3)


def lrelu(x, a=0.2):
    """improved-gan's ``lrelu``: ``max(x, a * x)``, a = 0.2 by default
    (openai/weightnorm used 0.1: pass ``a=0.1`` or use ``LeakyRectify(0.1)``).
    """
    return tf.maximum(x, tf.constant(a, dtype=x.dtype) * x)


def sigmoid(x):
    """Logistic sigmoid."""
    return tf.sigmoid(x)


def tanh(x):
    """Hyperbolic tangent."""
    return tf.tanh(x)


class ScaledTanH(object):
    """``scale_out * tanh(scale_in * x)``."""

    def __init__(self, scale_in=1.0, scale_out=1.0):
        self.scale_in = scale_in
        self.scale_out = scale_out

    def __call__(self, x):
        return self.scale_out * tf.tanh(self.scale_in * x)


def softmax(x):
    """Softmax over axis 1 of a 2-D input (Lasagne's convention)."""
    return tf.nn.softmax(x, axis=1)


def softplus(x):
    """``log(1 + exp(x))``."""
    return tf.nn.softplus(x)


def elu(x):
    """Exponential linear unit."""
    return tf.nn.elu(x)


__all__ = ["identity", "linear", "rectify", "relu", "LeakyRectify",
           "leaky_rectify", "very_leaky_rectify", "lrelu", "sigmoid", "tanh",
           "ScaledTanH", "softmax", "softplus", "elu"]
