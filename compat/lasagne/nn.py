"""The names of improved-gan's and openai/weightnorm's ``nn.py``, so
``import nn`` becomes ``from tf1_wn.compat.lasagne import nn``.

``lrelu`` uses improved-gan's slope 0.2 (openai/weightnorm: 0.1, pass ``a``).
"""
from tf1_wn._tf import tf
from tf1_wn.compat.lasagne.conv import Deconv2DLayer
from tf1_wn.compat.lasagne.improved_gan import (BatchNormLayer, DenseLayer,
                                                MinibatchLayer, batch_norm,
                                                centered_softplus,
                                                l2normalize, log_sum_exp)
from tf1_wn.compat.lasagne.noise import GaussianNoiseLayer
from tf1_wn.compat.lasagne.nonlinearities import lrelu, relu
from tf1_wn.compat.lasagne.updates import gradients, zeros_state
from tf1_wn.compat.lasagne.weight_norm import (MeanOnlyBNLayer,
                                               WeightNormLayer, mean_only_bn,
                                               weight_norm)


def adam_updates(params, cost, lr=0.001, mom1=0.9, mom2=0.999):
    """improved-gan's and openai/weightnorm's Adam, not Lasagne's.

    With ``t`` starting at 1, per parameter ``p`` with gradient ``g``::

        v = mom1 * v + (1 - mom1) * g
        mg = mom2 * mg + (1 - mom2) * g**2
        p = p - lr * (v / (1 - mom1**t)) / sqrt(mg / (1 - mom2**t) + 1e-8)

    The 1e-8 sits inside the square root, after the bias correction
    (Lasagne's `updates.adam` adds its epsilon outside the root, before it):
    for small gradients the steps differ a lot (a gradient of 1e-4 gives a
    first step 41% larger with Lasagne's formula).  The moments and ``t``
    are new variables in the parameters' dtype, created here as the
    original creates its shared variables.

    Args:
      params: the parameter variables.
      cost: the scalar cost to minimize.
      lr, mom1, mom2: learning rate and the two decay rates.

    Returns:
      A list of ``(variable, new_value)`` pairs for `apply_updates`, in the
      original's order: for each parameter its first moment, second moment
      and itself, then ``t``.

    Raises:
      ValueError: the cost does not depend on a parameter.
    """
    grads = gradients(cost, params)
    dtype = params[0].dtype.base_dtype
    t = tf.Variable(tf.ones([], dtype), trainable=False, name="adam_t")
    updates = []
    for p, g in zip(params, grads):
        v = zeros_state(p, "adam_v")
        mg = zeros_state(p, "adam_mg")
        v_t = mom1 * v + (1. - mom1) * g
        mg_t = mom2 * mg + (1. - mom2) * tf.square(g)
        v_hat = v_t / (1. - mom1 ** t)
        mg_hat = mg_t / (1. - mom2 ** t)
        updates += [(v, v_t), (mg, mg_t),
                    (p, p - lr * (v_hat / tf.sqrt(mg_hat + 1e-8)))]
    updates.append((t, t + 1))
    return updates


__all__ = ["relu", "lrelu", "WeightNormLayer", "weight_norm",
           "Deconv2DLayer", "GaussianNoiseLayer", "MeanOnlyBNLayer",
           "mean_only_bn", "adam_updates", "BatchNormLayer", "batch_norm",
           "MinibatchLayer", "DenseLayer", "l2normalize", "log_sum_exp",
           "centered_softplus"]
