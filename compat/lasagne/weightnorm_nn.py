"""openai/weightnorm's ``lasagne/nn.py``, so its scripts port with
``from tf1_wn.compat.lasagne import weightnorm_nn as nn``.

It differs from improved-gan's ``nn.py`` (`tf1_wn.compat.lasagne.nn`) in
ways that change the numbers: `lrelu`'s slope is 0.1 (improved-gan: 0.2);
`weight_norm` re-samples the wrapped ``W`` from ``Normal(0.05)``, has no
epsilon in the norm, and its ``g`` is trainable and regularizable
(improved-gan: frozen, not regularizable, eps 1e-6); `batch_norm` also
re-samples ``W`` and its ``g`` is regularizable; `no_norm` scales ``W`` by a
frozen ``g`` without normalizing it.  `adam_updates` is the same formula as
improved-gan's.
"""
import numpy as np

from tf1_wn._tf import tf
from tf1_wn.compat.lasagne import init, nonlinearities
from tf1_wn.compat.lasagne.base import Layer
from tf1_wn.compat.lasagne.improved_gan import BatchNormLayer as _IGBatchNorm
from tf1_wn.compat.lasagne.improved_gan import log_sum_exp
from tf1_wn.compat.lasagne.nn import adam_updates
from tf1_wn.compat.lasagne.nonlinearities import relu
from tf1_wn.compat.lasagne.updates import gradients, zeros_state
from tf1_wn.compat.lasagne.weight_norm import (MeanOnlyBNLayer,
                                               WeightNormLayer,
                                               _channel_view, _strip,
                                               weight_axes)
from tf1_wn.compat.lasagne.reductions import (centered_moments, theano_mean,
                                              theano_sum)


def lrelu(x, a=0.1):
    """``max(x, a * x)`` with openai/weightnorm's slope 0.1."""
    return tf.maximum(x, a * x)


def adamax_updates(params, cost, lr=0.001, mom1=0.9, mom2=0.999):
    """openai/weightnorm's Adamax: ``mg = max(mom2 * mg, |g|)``,
    ``p -= lr * v / (mg + 1e-6)`` with ``v`` the momentum (the raw gradient
    when ``mom1`` is 0).

    Returns:
      A list of ``(variable, new_value)`` pairs, in the original's order.
    """
    grads = gradients(cost, params)
    updates = []
    for p, g in zip(params, grads):
        mg = zeros_state(p, "adamax_mg")
        v = zeros_state(p, "adamax_v")
        if mom1 > 0:
            v_t = mom1 * v + (1. - mom1) * g
            updates.append((v, v_t))
        else:
            v_t = g
        mg_t = tf.maximum(mom2 * mg, tf.abs(g))
        updates += [(mg, mg_t), (p, p - lr * (v_t / (mg_t + 1e-6)))]
    return updates


def softmax_loss(p_true, output_before_softmax):
    """Mean cross-entropy of the softmax of the logits: `p_true` is either
    a ``(N, C)`` distribution or ``(N,)`` integer labels."""
    shifted = output_before_softmax - tf.reduce_max(
        output_before_softmax, axis=1, keepdims=True)
    log_norm = tf.log(theano_sum(tf.exp(shifted), axis=1))
    if p_true.shape.ndims == 2:
        return theano_mean(log_norm - theano_sum(p_true * shifted, 1))
    return theano_mean(log_norm - tf.gather(shifted, p_true, axis=1,
                                            batch_dims=1))


class BatchNormLayer(_IGBatchNorm):
    """openai/weightnorm's batch norm: improved-gan's, but ``g`` is
    regularizable and the wrapped layer's ``W`` is re-sampled from `W`."""

    def __init__(self, incoming, b=init.Constant(0.), g=init.Constant(1.),
                 W=init.Normal(0.05), nonlinearity=relu, **kwargs):
        super(BatchNormLayer, self).__init__(incoming, b=b, g=None,
                                             nonlinearity=nonlinearity,
                                             **kwargs)
        if g is not None:  # after b, before the averages, as upstream
            self.g = self.add_param(g, (self.input_shape[1],), name="g")
            self._move_before_averages(self.g)
        incoming.W = incoming._replace_param(incoming.W, W)

    def _move_before_averages(self, param):
        items = [(p, t) for p, t in self.params.items() if p is not param]
        at = 1 if hasattr(self, "b") else 0
        items.insert(at, (param, self.params[param]))
        self.params.clear()
        self.params.update(items)


def batch_norm(layer, b=init.Constant(0.), g=init.Constant(1.), **kwargs):
    """Wraps `layer` in this module's `BatchNormLayer` (moves its
    nonlinearity, deletes its bias)."""
    nonlinearity = _strip(layer)
    return BatchNormLayer(layer, b, g, nonlinearity=nonlinearity, **kwargs)


class GlobalAvgLayer(Layer):
    """The mean over the spatial axes 2 and 3 of an NCHW input."""

    def get_output_for(self, input, **kwargs):
        return theano_mean(input, axis=[2, 3])

    def get_output_shape_for(self, input_shape):
        return input_shape[:2]


def weight_norm(layer, **kwargs):
    """openai/weightnorm's ``weight_norm``: ``W`` re-sampled from
    ``Normal(0.05)``, no epsilon, ``g`` trainable and regularizable."""
    weight_axes(layer)
    nonlinearity = _strip(layer)
    kwargs.setdefault("nonlinearity", nonlinearity)
    kwargs.setdefault("W", init.Normal(0.05))
    kwargs.setdefault("train_g", True)
    kwargs.setdefault("epsilon", 0.0)
    wrapped = WeightNormLayer(layer, **kwargs)
    if wrapped.g is not None:
        wrapped.params[wrapped.g].add("regularizable")
    return wrapped


def mean_only_bn(layer, **kwargs):
    """openai/weightnorm's ``mean_only_bn`` (`MeanOnlyBNLayer`)."""
    weight_axes(layer)
    nonlinearity = _strip(layer)
    kwargs.setdefault("nonlinearity", nonlinearity)
    return MeanOnlyBNLayer(layer, **kwargs)


class InitLayer(Layer):
    """Data init without normalization: ``W = g * W_param`` with a frozen
    ``g``; init mode as `WeightNormLayer` (``b = -m / std``,
    ``g = g / std``)."""

    def __init__(self, incoming, b=init.Constant(0.), g=init.Constant(1.),
                 nonlinearity=relu, **kwargs):
        super(InitLayer, self).__init__(incoming, **kwargs)
        self.nonlinearity = (nonlinearities.identity if nonlinearity is None
                             else nonlinearity)
        k = self.input_shape[1]
        self.b = self.add_param(b, (k,), name="b", regularizable=False)
        self.g = self.add_param(g, (k,), name="g", regularizable=False,
                                trainable=False)
        incoming.W_param = incoming.W
        rank = incoming.W_param.shape.ndims
        shape = [-1, 1, 1, 1] if rank == 4 else [1, -1]
        with tf.name_scope(incoming.scope):
            incoming.W = tf.reshape(self.g, shape) * incoming.W_param

    def get_output_for(self, input, init=False, **kwargs):
        rank = input.shape.ndims
        axes = [0] + list(range(2, rank))
        if init:
            m, centered, var = centered_moments(input, axes)
            stdv = tf.sqrt(var)
            input = centered / _channel_view(stdv, rank)
            self.init_updates = [(self.b, -m / stdv), (self.g, self.g / stdv)]
        else:
            input = input + _channel_view(self.b, rank)
        return self.nonlinearity(input)


def no_norm(layer, **kwargs):
    """Wraps `layer` in an `InitLayer` (data init, no normalization)."""
    nonlinearity = _strip(layer)
    return InitLayer(layer, nonlinearity=nonlinearity, **kwargs)


class ZCA:
    """ZCA whitening fitted on NumPy data, applied to arrays or tensors.

    Args:
      regularization: added to the covariance's eigenvalues.
      x: optional data to fit right away.
    """

    def __init__(self, regularization=1e-5, x=None):
        self.regularization = regularization
        if x is not None:
            self.fit(x)

    def fit(self, x):
        """Fits the whitening (and its inverse) to ``x`` of shape
        ``(N, ...)``."""
        flat = np.array(x, copy=True).reshape(len(x), -1)
        self.mean = flat.mean(axis=0)
        flat -= self.mean
        u, s, _ = np.linalg.svd(flat.T @ flat / flat.shape[0])
        self.ZCA_mat = (u / np.sqrt(s + self.regularization)) @ u.T
        self.inv_ZCA_mat = (u * np.sqrt(s + self.regularization)) @ u.T

    def apply(self, x):
        """Whitens a NumPy array or a tensor (same shape as given)."""
        if isinstance(x, np.ndarray):
            flat = x.reshape(len(x), -1)
            return ((flat - self.mean) @ self.ZCA_mat).reshape(x.shape)
        shape = tf.shape(x)
        flat = tf.reshape(x, [shape[0], -1])
        out = tf.matmul(flat - tf.constant(self.mean, x.dtype),
                        tf.constant(self.ZCA_mat, x.dtype))
        return tf.reshape(out, shape)

    def invert(self, x):
        """Undoes `apply` on a NumPy array."""
        flat = x.reshape(len(x), -1)
        return (flat @ self.inv_ZCA_mat + self.mean).reshape(x.shape)


__all__ = ["ZCA", "relu", "lrelu", "log_sum_exp", "adamax_updates",
           "adam_updates", "softmax_loss", "BatchNormLayer", "batch_norm",
           "GlobalAvgLayer", "MeanOnlyBNLayer", "mean_only_bn",
           "WeightNormLayer", "weight_norm", "InitLayer", "no_norm"]
