"""The layers and helpers of improved-gan's ``nn.py`` that Lasagne lacks:
its `BatchNormLayer` / `batch_norm`, `MinibatchLayer` (minibatch
discrimination), and the older MNIST code's `DenseLayer` (``theta``,
``weight_scale``) and `l2normalize`, plus `log_sum_exp` and
`centered_softplus`.  Exposed as ``nn.<name>`` (`tf1_wn.compat.lasagne.nn`).

Parameter names, shapes, tags, defaults and creation order are improved-gan's,
so ``get_all_params`` lists them as the original does and seeded initial
values match.
"""
import numpy as np

from tf1_wn._tf import tf
from tf1_wn.compat.lasagne import init, nonlinearities
from tf1_wn.compat.lasagne.base import Layer
from tf1_wn.compat.lasagne.weight_norm import _channel_view, _strip
from tf1_wn.normalization import normalize_weight
from tf1_wn.compat.lasagne.reductions import (centered_moments, theano_mean,
                                              theano_sum)


def log_sum_exp(x, axis=1):
    """``log(sum(exp(x), axis))``, shifted by the maximum for stability."""
    m = tf.reduce_max(x, axis=axis)
    return m + tf.log(theano_sum(tf.exp(x - tf.expand_dims(m, axis)),
                                 axis=axis))


def centered_softplus(x):
    """``softplus(x) - log(2)``: 0 at 0."""
    return tf.nn.softplus(x) - tf.constant(np.log(2.0), x.dtype)


def _flat(input):
    if input.shape.ndims > 2:
        return tf.reshape(input, [tf.shape(input)[0], -1])
    return input


class BatchNormLayer(Layer):
    """improved-gan's batch normalization (not Lasagne's).

    Training mode: ``(x - mean) / sqrt(1e-6 + var)`` with the batch's mean
    and population variance over every axis but 1, and ``bn_updates =
    [(avg_batch_mean, 0.9 * avg + 0.1 * mean), (avg_batch_var, 0.9 * avg +
    0.1 * n / (n - 1) * var)]``; deterministic mode uses the averages.
    Then ``* g + b`` and the nonlinearity.

    Args:
      incoming: the input layer (2-D or 4-D output).
      b, g: ``(C,)`` specs, or None for none (not regularizable).
      nonlinearity: applied last; default `nn.relu`.
      name: optional layer name.
    """

    def __init__(self, incoming, b=init.Constant(0.), g=init.Constant(1.),
                 nonlinearity=nonlinearities.relu, **kwargs):
        super(BatchNormLayer, self).__init__(incoming, **kwargs)
        self.nonlinearity = nonlinearity
        k = self.input_shape[1]
        if b is not None:
            self.b = self.add_param(b, (k,), name="b", regularizable=False)
        if g is not None:
            self.g = self.add_param(g, (k,), name="g", regularizable=False)
        self.avg_batch_mean = self.add_param(
            init.Constant(0.), (k,), name="avg_batch_mean",
            regularizable=False, trainable=False)
        self.avg_batch_var = self.add_param(
            init.Constant(1.), (k,), name="avg_batch_var",
            regularizable=False, trainable=False)

    def get_output_for(self, input, deterministic=False, **kwargs):
        rank = input.shape.ndims
        axes = [0] + list(range(2, rank))
        if deterministic:
            norm = (input - _channel_view(self.avg_batch_mean, rank)) / \
                _channel_view(tf.sqrt(1e-6 + self.avg_batch_var), rank)
        else:
            mean, centered, var = centered_moments(input, axes)
            norm = centered / _channel_view(tf.sqrt(1e-6 + var), rank)
            n = tf.cast(tf.shape(input)[0], input.dtype)
            self.bn_updates = [
                (self.avg_batch_mean, 0.9 * self.avg_batch_mean + 0.1 * mean),
                (self.avg_batch_var,
                 0.9 * self.avg_batch_var + (0.1 * n) / (n - 1) * var)]
        if hasattr(self, "g"):
            norm = norm * _channel_view(self.g, rank)
        if hasattr(self, "b"):
            norm = norm + _channel_view(self.b, rank)
        return self.nonlinearity(norm)


def batch_norm(layer, b=init.Constant(0.), g=init.Constant(1.), **kwargs):
    """Wraps `layer` in improved-gan's `BatchNormLayer`: moves its
    nonlinearity (identity if it has none) and deletes its bias.

    Returns:
      The new `BatchNormLayer`.
    """
    nonlinearity = _strip(layer) or nonlinearities.identity
    return BatchNormLayer(layer, b, g, nonlinearity=nonlinearity, **kwargs)


def l2normalize(layer, train_scale=True):
    """improved-gan's older weight norm: adds ``W_scale`` (ones, one per
    output unit; trainable per `train_scale`, not regularizable) to `layer`
    and replaces ``layer.W`` by ``W * W_scale / sqrt(1e-6 + sum(W**2))``
    (over axis 0 of a 2-D ``W``, axes 1-3 of a 4-D one).

    Returns:
      `layer` itself.
    """
    w_param = layer.W
    shape = w_param.shape.as_list()
    axes, k = ([1, 2, 3], shape[0]) if len(shape) == 4 else ([0], shape[1])
    layer.W_scale = layer.add_param(init.Constant(1.), (k,), name="W_scale",
                                    trainable=train_scale,
                                    regularizable=False)
    with tf.name_scope(layer.scope):
        layer.W = normalize_weight(w_param, layer.W_scale, axes, eps=1e-6)
    return layer


class DenseLayer(Layer):
    """The weight-normalized dense layer of improved-gan's MNIST code.

    ``W = theta * weight_scale / ||theta||`` (no epsilon), output
    ``nonlinearity(x . W + b)``.  Init mode: with ``ma``, ``stdv`` the
    per-unit mean and std of ``x . W``, returns
    ``nonlinearity((x . W - ma) / stdv)`` and sets ``init_updates =
    [(weight_scale, weight_scale / stdv), (b, -ma / stdv)]``.

    Args:
      incoming: the input layer (flattened beyond 2-D).
      num_units: number of outputs.
      theta: ``(in, num_units)`` direction spec; default Normal(0.1).
      b: ``(num_units,)`` bias spec.
      weight_scale: ``(num_units,)`` scale spec; default ones.
      train_scale: whether ``weight_scale`` is trainable.
      nonlinearity: default `nn.relu`; None for the identity.
      name: optional layer name.
    """

    def __init__(self, incoming, num_units, theta=init.Normal(0.1),
                 b=init.Constant(0.), weight_scale=init.Constant(1.),
                 train_scale=False, nonlinearity=nonlinearities.relu,
                 **kwargs):
        super(DenseLayer, self).__init__(incoming, **kwargs)
        self.nonlinearity = (nonlinearities.identity if nonlinearity is None
                             else nonlinearity)
        self.num_units = num_units
        num_inputs = int(np.prod(self.input_shape[1:]))
        self.theta = self.add_param(theta, (num_inputs, num_units),
                                    name="theta")
        self.weight_scale = self.add_param(weight_scale, (num_units,),
                                           name="weight_scale",
                                           trainable=train_scale)
        with tf.name_scope(self.scope):
            self.W = normalize_weight(self.theta, self.weight_scale, [0],
                                      eps=0.0)
        self.b = self.add_param(b, (num_units,), name="b")

    def get_output_shape_for(self, input_shape):
        return (input_shape[0], self.num_units)

    def get_output_for(self, input, init=False, deterministic=False,
                       **kwargs):
        activation = tf.matmul(_flat(input), self.W)
        if init:
            ma, activation, var = centered_moments(activation, [0])
            stdv = tf.sqrt(var)
            activation = activation / stdv
            self.init_updates = [(self.weight_scale, self.weight_scale / stdv),
                                 (self.b, -ma / stdv)]
        else:
            activation = activation + self.b
        return self.nonlinearity(activation)


class MinibatchLayer(Layer):
    """improved-gan's minibatch discrimination layer.

    ``W = theta * exp(log_weight_scale) / ||theta||`` (over axis 0, no
    epsilon) maps the flattened input to ``num_kernels x dim_per_kernel``;
    for each kernel the L1 distances to every other example of the batch
    give ``f = sum(exp(-distance))`` over the batch (plus ``b``), appended
    to the input.  Init mode scales the distances by half their mean
    minimum and centres ``f``, with ``init_updates`` for
    ``log_weight_scale`` and ``b``.

    Args:
      incoming: the input layer.
      num_kernels: number of kernels (features added).
      dim_per_kernel: dimensions per kernel.
      theta: ``(in, num_kernels, dim_per_kernel)`` spec.
      log_weight_scale: ``(num_kernels, dim_per_kernel)`` spec.
      b: ``(num_kernels,)`` spec; default -1.
      name: optional layer name.
    """

    def __init__(self, incoming, num_kernels, dim_per_kernel=5,
                 theta=init.Normal(0.05), log_weight_scale=init.Constant(0.),
                 b=init.Constant(-1.), **kwargs):
        super(MinibatchLayer, self).__init__(incoming, **kwargs)
        self.num_kernels = num_kernels
        num_inputs = int(np.prod(self.input_shape[1:]))
        self.theta = self.add_param(
            theta, (num_inputs, num_kernels, dim_per_kernel), name="theta")
        self.log_weight_scale = self.add_param(
            log_weight_scale, (num_kernels, dim_per_kernel),
            name="log_weight_scale")
        with tf.name_scope(self.scope):
            self.W = normalize_weight(self.theta,
                                      tf.exp(self.log_weight_scale), [0],
                                      eps=0.0)
        self.b = self.add_param(b, (num_kernels,), name="b")

    def get_output_shape_for(self, input_shape):
        return (input_shape[0],
                int(np.prod(input_shape[1:])) + self.num_kernels)

    def get_output_for(self, input, init=False, **kwargs):
        input = _flat(input)
        activation = tf.tensordot(input, self.W, [[1], [0]])  # (N, K, D)
        # (N, K, N): L1 distance of example i to example j per kernel, and
        # a large value on the diagonal.
        distance = theano_sum(tf.abs(
            activation[:, :, :, None]
            - tf.transpose(activation, [1, 2, 0])[None]), axis=2)
        eye = tf.eye(tf.shape(input)[0], dtype=input.dtype)
        distance = distance + 1e6 * eye[:, None, :]
        if init:
            mean_min = 0.5 * theano_mean(tf.reduce_min(distance, 2), 0)
            distance = distance / mean_min[None, :, None]
            self.init_updates = [(self.log_weight_scale,
                                  self.log_weight_scale
                                  - tf.log(mean_min)[:, None])]
        f = theano_sum(tf.exp(-distance), axis=2)
        if init:
            mf = theano_mean(f, 0)
            f = f - mf
            self.init_updates.append((self.b, -mf))
        else:
            f = f + self.b
        return tf.concat([input, f], axis=1)
