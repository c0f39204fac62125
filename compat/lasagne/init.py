"""Lasagne's parameter initializers.

Each initializer samples a NumPy array with `lasagne.random.get_rng()`, as
Lasagne does, so a seeded generator reproduces Lasagne's initial values.
"""
import numpy as np

from tf1_wn.compat.lasagne.random import get_rng


class Initializer(object):
    """Base class: ``init(shape)`` returns a NumPy array of that shape."""

    def __call__(self, shape):
        return self.sample(shape)

    def sample(self, shape):
        """Returns a float64 NumPy array of `shape` (cast by the layer)."""
        raise NotImplementedError()


class Normal(Initializer):
    """Samples from N(mean, std^2).

    Args:
      std: standard deviation (Lasagne default 0.01; improved-gan uses 0.05).
      mean: mean.
    """

    def __init__(self, std=0.01, mean=0.0):
        if std < 0:
            raise ValueError("std must be non-negative; got %r" % (std,))
        self.std = std
        self.mean = mean

    def sample(self, shape):
        return np.asarray(get_rng().normal(self.mean, self.std, size=shape))


class Uniform(Initializer):
    """Samples uniformly from ``range`` (a pair, or ``(-range, range)``), or
    with the given ``std`` and ``mean``."""

    def __init__(self, range=0.01, std=None, mean=0.0):
        if std is not None:
            a = mean - np.sqrt(3) * std
            b = mean + np.sqrt(3) * std
        else:
            try:
                a, b = range
            except TypeError:
                a, b = -range, range
        self.range = (a, b)

    def sample(self, shape):
        return np.asarray(get_rng().uniform(
            low=self.range[0], high=self.range[1], size=shape))


def _gain(gain):
    if gain == "relu":
        return np.sqrt(2)
    return float(gain)


class _ScaledInitializer(Initializer):
    """Base of Glorot and He: a Normal/Uniform class and a gain."""

    def __init__(self, initializer, gain=1.0, c01b=False):
        if c01b:
            raise NotImplementedError("c01b layouts are not supported")
        self.initializer = initializer
        self.gain = _gain(gain)


class Glorot(_ScaledInitializer):
    """Glorot/Xavier scaling of `initializer` (``std = gain * sqrt(2 /
    ((n1 + n2) * receptive_field))`` with ``n1, n2 = shape[:2]``, Lasagne's
    convention for ``(in, out)`` dense and ``(out, in, k...)`` conv weights).

    Args:
      initializer: `Normal` or `Uniform` class.
      gain: float, or ``'relu'`` for sqrt(2).
    """

    def sample(self, shape):
        if len(shape) < 2:
            raise RuntimeError(
                "This initializer only works with shapes of length >= 2; got "
                "shape %r" % (tuple(shape),))
        n1, n2 = shape[:2]
        receptive_field_size = np.prod(shape[2:])
        std = self.gain * np.sqrt(2.0 / ((n1 + n2) * receptive_field_size))
        return self.initializer(std=std).sample(shape)


class GlorotNormal(Glorot):
    """Glorot with normal samples."""

    def __init__(self, gain=1.0, c01b=False):
        super(GlorotNormal, self).__init__(Normal, gain, c01b)


class GlorotUniform(Glorot):
    """Glorot with uniform samples (Lasagne's default for ``W``)."""

    def __init__(self, gain=1.0, c01b=False):
        super(GlorotUniform, self).__init__(Uniform, gain, c01b)


class He(_ScaledInitializer):
    """He scaling: ``std = gain * sqrt(1 / fan_in)``, fan_in =
    ``shape[0]`` for 2-D, ``prod(shape[1:])`` otherwise."""

    def sample(self, shape):
        if len(shape) == 2:
            fan_in = shape[0]
        elif len(shape) > 2:
            fan_in = np.prod(shape[1:])
        else:
            raise RuntimeError(
                "This initializer only works with shapes of length >= 2; got "
                "shape %r" % (tuple(shape),))
        std = self.gain * np.sqrt(1.0 / fan_in)
        return self.initializer(std=std).sample(shape)


class HeNormal(He):
    """He with normal samples."""

    def __init__(self, gain=1.0, c01b=False):
        super(HeNormal, self).__init__(Normal, gain, c01b)


class HeUniform(He):
    """He with uniform samples."""

    def __init__(self, gain=1.0, c01b=False):
        super(HeUniform, self).__init__(Uniform, gain, c01b)


class Constant(Initializer):
    """Fills with `val` (default 0)."""

    def __init__(self, val=0.0):
        self.val = val

    def sample(self, shape):
        return np.ones(shape) * self.val


__all__ = ["Initializer", "Normal", "Uniform", "Glorot", "GlorotNormal",
           "GlorotUniform", "He", "HeNormal", "HeUniform", "Constant"]
