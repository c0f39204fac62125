"""The names of improved-gan's and openai/weightnorm's ``nn.py``, so
``import nn`` becomes ``from tf1_wn.compat.lasagne import nn``.

``lrelu`` uses improved-gan's slope 0.2 (openai/weightnorm: 0.1, pass ``a``).
"""
from tf1_wn.compat.lasagne.conv import Deconv2DLayer
from tf1_wn.compat.lasagne.noise import GaussianNoiseLayer
from tf1_wn.compat.lasagne.nonlinearities import lrelu, relu
from tf1_wn.compat.lasagne.updates import adam as _adam
from tf1_wn.compat.lasagne.weight_norm import (MeanOnlyBNLayer,
                                               WeightNormLayer, mean_only_bn,
                                               weight_norm)


def adam_updates(params, cost, lr=0.001, mom1=0.9, mom2=0.999):
    """improved-gan's ``adam_updates`` signature on top of `updates.adam`
    (same Adam; eps placement differs in the last digits).

    Returns:
      A list of ``(variable, new_value)`` pairs for `apply_updates`.
    """
    return list(_adam(cost, params, learning_rate=lr, beta1=mom1,
                      beta2=mom2).items())


__all__ = ["relu", "lrelu", "WeightNormLayer", "weight_norm",
           "Deconv2DLayer", "GaussianNoiseLayer", "MeanOnlyBNLayer",
           "mean_only_bn", "adam_updates"]
