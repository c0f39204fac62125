"""Lasagne's own batch normalization: `BatchNormLayer` and `batch_norm`
(``lasagne.layers.normalization``), with Lasagne's parameter names, tags,
defaults and creation order (``beta``, ``gamma``, ``mean``, ``inv_std``).

Theano applies the running-average updates through ``default_update``
whenever a compiled function contains the training-mode output.  A TF graph
has no such hook, so the training-mode output records the same updates
twice, for the two TF1 idioms: as ``(variable, new_value)`` pairs in the
layer's ``bn_updates`` (collected by `get_bn_updates`, applied with
`lasagne.apply_updates`), and as one op in ``tf.GraphKeys.UPDATE_OPS`` (run
with the train op, as for ``tf.layers.batch_normalization``; tf-slim's
``create_train_op`` does this itself).  Use one of the two, not both.
"""
import numbers

from tf1_wn._tf import tf
from tf1_wn.compat.lasagne import init
from tf1_wn.compat.lasagne.base import Layer
from tf1_wn.compat.lasagne.reductions import centered_moments
from tf1_wn.compat.lasagne.shape import NonlinearityLayer
from tf1_wn.compat.lasagne.weight_norm import _strip

_HALF = (tf.float16, tf.bfloat16)


class BatchNormLayer(Layer):
    """Lasagne's batch normalization (not improved-gan's ``nn`` one).

    ``y = (x - mean) * gamma * inv_std + beta`` with, in training mode, the
    batch's mean and ``inv_std = 1 / sqrt(var + epsilon)`` (population
    variance over `axes`), and in deterministic mode the stored averages.
    Training mode also updates the averages:
    ``mean <- (1 - alpha) * mean + alpha * batch_mean``, and the same for
    ``inv_std`` (see the module docstring for how the updates run).

    Args:
      incoming: the input layer.
      axes: ``'auto'`` (every axis but 1), an int or a tuple of ints: the
        axes the statistics are taken over.
      epsilon: added to the variance (default 1e-4).
      alpha: weight of the new batch in the running averages (default 0.1).
      beta: spec of the shift (not regularizable), or None for 0.
      gamma: spec of the scale (regularizable), or None for 1.
      mean: spec of the running mean (not trainable, tag
        ``batch_norm_stat``).
      inv_std: spec of the running ``1 / sqrt(var + epsilon)`` (same tags).
      name: optional layer name.

    Raises:
      ValueError: for axes outside the input, or an unknown size on an axis
        that is not normalized over.
    """

    def __init__(self, incoming, axes='auto', epsilon=1e-4, alpha=0.1,
                 beta=init.Constant(0), gamma=init.Constant(1),
                 mean=init.Constant(0), inv_std=init.Constant(1), **kwargs):
        super(BatchNormLayer, self).__init__(incoming, **kwargs)
        rank = len(self.input_shape)
        self.axes = _normalized_axes(axes, rank)
        self.epsilon = epsilon
        self.alpha = alpha
        shape = [size for axis, size in enumerate(self.input_shape)
                 if axis not in self.axes]
        if any(size is None for size in shape):
            raise ValueError("BatchNormLayer needs specified input sizes for "
                             "all axes not normalized over; input shape %s, "
                             "axes %s" % (self.input_shape, self.axes))
        self.beta = None if beta is None else self.add_param(
            beta, shape, "beta", trainable=True, regularizable=False)
        self.gamma = None if gamma is None else self.add_param(
            gamma, shape, "gamma", trainable=True, regularizable=True)
        self.mean = self.add_param(mean, shape, "mean", trainable=False,
                                   regularizable=False, batch_norm_stat=True)
        self.inv_std = self.add_param(inv_std, shape, "inv_std",
                                      trainable=False, regularizable=False,
                                      batch_norm_stat=True)

    def get_output_for(self, input, deterministic=False,
                       batch_norm_use_averages=None,
                       batch_norm_update_averages=None, **kwargs):
        """Normalizes `input`.

        Args:
          input: the input tensor.
          deterministic: use the stored averages and do not update them
            (each overridable by the next two arguments).
          batch_norm_use_averages: normalize by the stored averages.
          batch_norm_update_averages: record the running-average updates.

        Returns:
          The normalized tensor.
        """
        with tf.name_scope(self.scope):
            batch_mean, batch_inv_std = self._batch_statistics(input)
            use_averages = (deterministic if batch_norm_use_averages is None
                            else batch_norm_use_averages)
            update_averages = (not deterministic
                               if batch_norm_update_averages is None
                               else batch_norm_update_averages)
            if update_averages:
                self._record_updates(batch_mean, batch_inv_std)
            if use_averages:
                mean, inv_std = self.mean, self.inv_std
            else:
                mean, inv_std = batch_mean, batch_inv_std
            scale = inv_std if self.gamma is None else self.gamma * inv_std
            out = (input - self._broadcast(mean, input)) * \
                self._broadcast(scale, input)
            if self.beta is not None:
                out = out + self._broadcast(self.beta, input)
            return out

    def _batch_statistics(self, input):
        # Half-precision inputs get float32 statistics; Theano's ``var`` is
        # the mean of the squared deviations (population variance).
        wide = tf.cast(input, tf.float32) if input.dtype in _HALF else input
        axes = list(self.axes)
        mean, _, var = centered_moments(wide, axes)
        inv_std = 1 / tf.sqrt(var + tf.constant(self.epsilon, wide.dtype))
        return tf.cast(mean, input.dtype), tf.cast(inv_std, input.dtype)

    def _record_updates(self, batch_mean, batch_inv_std):
        alpha = self.alpha
        self.bn_updates = [
            (self.mean, (1 - alpha) * self.mean + alpha * batch_mean),
            (self.inv_std,
             (1 - alpha) * self.inv_std + alpha * batch_inv_std)]
        assigns = [tf.assign(variable, value)
                   for variable, value in self.bn_updates]
        tf.add_to_collection(tf.GraphKeys.UPDATE_OPS,
                             tf.group(*assigns, name="bn_updates"))

    def _broadcast(self, param, input):
        """`param` (shaped like the kept axes, whose sizes are static)
        reshaped to broadcast against `input`."""
        return tf.reshape(param, [1 if axis in self.axes else size
                                  for axis, size
                                  in enumerate(self.input_shape)])


def _normalized_axes(axes, rank):
    if axes == 'auto':
        return (0,) + tuple(range(2, rank))
    if isinstance(axes, numbers.Integral) and not isinstance(axes, bool):
        axes = (axes,)
    if (not isinstance(axes, (tuple, list)) or not axes
            or not all(isinstance(a, numbers.Integral)
                       and not isinstance(a, bool) and 0 <= a < rank
                       for a in axes)):
        raise ValueError("axes must be 'auto', an axis or a tuple of axes "
                         "in [0, %d) of the input; got %r" % (rank, axes))
    return tuple(axes)


def batch_norm(layer, **kwargs):
    """Lasagne's `batch_norm`: takes `layer`'s nonlinearity and bias, adds a
    `BatchNormLayer` on it and, if `layer` had a nonlinearity, a
    `NonlinearityLayer` on top.

    Args:
      layer: the layer to normalize (modified: no bias, identity
        nonlinearity).
      **kwargs: passed to `BatchNormLayer`; ``name`` defaults to
        ``layer.name + '_bn'`` (and ``'_bn_nonlin'`` for the nonlinearity).

    Returns:
      The `BatchNormLayer`, or the `NonlinearityLayer` on top of it.
    """
    nonlinearity = _strip(layer)
    bn_name = (kwargs.pop("name", None)
               or (getattr(layer, "name", None) and layer.name + "_bn"))
    layer = BatchNormLayer(layer, name=bn_name, **kwargs)
    if nonlinearity is not None:
        nonlin_name = bn_name and bn_name + "_nonlin"
        layer = NonlinearityLayer(layer, nonlinearity, name=nonlin_name)
    return layer
