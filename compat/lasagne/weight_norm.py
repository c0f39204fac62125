"""Weight normalization as improved-gan and openai/weightnorm wrote it for
Lasagne: `WeightNormLayer` / `weight_norm` and `MeanOnlyBNLayer` /
`mean_only_bn`.

``weight_norm(layer)`` moves ``layer``'s nonlinearity to a new
`WeightNormLayer`, deletes ``layer``'s bias, keeps ``layer``'s ``W`` variable
as the direction ``v`` (``layer.W_param``) and replaces ``layer.W`` by the
tensor ``g * v / sqrt(sum(v**2) + epsilon)``, so the wrapped layer computes the
bias-free pre-activation with the normalized weight.
"""
from tf1_wn._tf import tf
from tf1_wn.compat.lasagne import init, nonlinearities
from tf1_wn.compat.lasagne._graph import is_variable
from tf1_wn.compat.lasagne.base import Layer
from tf1_wn.normalization import normalize_weight
from tf1_wn.compat.lasagne.reductions import centered_moments, theano_mean


def weight_axes(layer):
    """The axes of ``layer.W`` the weight norm sums over.

    Uses the layer's ``weight_norm_axes`` (dense/NIN ``(0,)``, conv
    ``(1, ..., n + 1)``, `Deconv2DLayer` ``(0, 2, 3)``); for other layers
    improved-gan's rule: ``(1, 2, 3)`` for a 4-D ``W``, else ``(0,)``.

    Raises:
      TypeError: if `layer` has no weight ``W``.
    """
    W = getattr(layer, "W", None)
    if not (is_variable(W) or isinstance(W, tf.Tensor)):
        raise TypeError("weight normalization needs a layer with a weight W "
                        "(DenseLayer, NINLayer, Conv1DLayer, Conv2DLayer, "
                        "Deconv2DLayer...); got %r" % (layer,))
    axes = getattr(layer, "weight_norm_axes", None)
    if axes is not None:
        return tuple(axes)
    return (1, 2, 3) if W.shape.ndims == 4 else (0,)


def _channel_view(param, rank):
    return tf.reshape(param, [1, -1] + [1] * (rank - 2))


def _strip(layer):
    """Takes `layer`'s nonlinearity (returned) and deletes its bias."""
    nonlinearity = getattr(layer, "nonlinearity", None)
    if nonlinearity is not None:
        layer.nonlinearity = nonlinearities.identity
    b = getattr(layer, "b", None)
    if b is not None:
        if is_variable(b):
            layer._delete_param(b)
        layer.b = None
    return nonlinearity


def _reparametrize(wn_layer, incoming, g, epsilon, resample_W):
    """Points ``incoming.W`` at the normalized weight built from its
    variable (kept as ``incoming.W_param``) and ``g`` (may be None)."""
    if not is_variable(getattr(incoming, "W", None)):
        raise TypeError("%s needs an incoming layer whose W is a variable; "
                        "got %r" % (type(wn_layer).__name__, incoming))
    axes = weight_axes(incoming)
    incoming.W_param = incoming.W
    if resample_W is not None:
        incoming.W_param = incoming._replace_param(incoming.W_param,
                                                   resample_W)
    with tf.name_scope(incoming.scope):
        incoming.W = normalize_weight(incoming.W_param, g, list(axes),
                                      eps=epsilon)


class WeightNormLayer(Layer):
    """The bias, gain and nonlinearity of a weight-normalized layer.

    Normal mode: ``nonlinearity(x + b)``.  Init mode (``get_output(...,
    init=True)``): with ``m``, ``v`` the per-channel mean and population
    variance of ``x`` over every axis but 1, ``inv = init_stdv / sqrt(v)``
    (no epsilon, as improved-gan), returns ``nonlinearity((x - m) * inv)``
    and sets ``self.init_updates = [(b, -m * inv), (g, g * inv)]``.  Since
    ``x`` was computed with the current g, the updates are exact whatever g
    held before.

    Args:
      incoming: the layer whose ``W`` gets normalized (normally built by
        `weight_norm`, which also moves its nonlinearity and drops its bias).
      b: ``(C,)`` bias spec or None (not regularizable).
      g: ``(C,)`` gain spec or None for ``W = v / ||v||`` (not
        regularizable).
      W: None (improved-gan: keep the wrapped layer's W) or an initializer to
        re-sample it (openai/weightnorm re-sampled from ``Normal(0.05)``).
      train_g: whether g carries the ``trainable`` tag (and joins
        TRAINABLE_VARIABLES).  improved-gan: False; openai/weightnorm: True.
      init_stdv: target std of the pre-activation after data init.
      nonlinearity: applied last (`weight_norm` passes the wrapped layer's).
      epsilon: added to ``sum(v**2)`` inside the sqrt; 1e-6 (improved-gan)
        or 0.0 (openai/weightnorm).
      name: optional layer name.

    Raises:
      TypeError: if `incoming` has no weight variable ``W``.
      ValueError: for a negative epsilon or a non-positive init_stdv.
    """

    def __init__(self, incoming, b=init.Constant(0.), g=init.Constant(1.),
                 W=None, train_g=False, init_stdv=1.,
                 nonlinearity=nonlinearities.relu, epsilon=1e-6, **kwargs):
        super(WeightNormLayer, self).__init__(incoming, **kwargs)
        if epsilon < 0:
            raise ValueError("epsilon must be non-negative; got %r"
                             % (epsilon,))
        if not init_stdv > 0:
            raise ValueError("init_stdv must be positive; got %r"
                             % (init_stdv,))
        if len(self.input_shape) < 2 or self.input_shape[1] is None:
            raise ValueError("WeightNormLayer needs an input with a known "
                             "channel axis 1; got input shape %r"
                             % (self.input_shape,))
        self.nonlinearity = (nonlinearities.identity if nonlinearity is None
                             else nonlinearity)
        self.init_stdv = init_stdv
        self.epsilon = epsilon
        self.train_g = bool(train_g)
        k = self.input_shape[1]
        self.b = (None if b is None else self.add_param(
            b, (k,), name="b", regularizable=False))
        self.g = (None if g is None else self.add_param(
            g, (k,), name="g", regularizable=False, trainable=self.train_g))
        _reparametrize(self, incoming, self.g, epsilon, W)

    def get_output_for(self, input, init=False, **kwargs):
        rank = input.shape.ndims
        axes = [0] + list(range(2, rank))
        if init:
            m, centered, var = centered_moments(input, axes)
            inv_stdv = self.init_stdv / tf.sqrt(var)
            input = centered * _channel_view(inv_stdv, rank)
            self.init_updates = []
            if self.b is not None:
                self.init_updates.append((self.b, -m * inv_stdv))
            if self.g is not None:
                self.init_updates.append((self.g, self.g * inv_stdv))
        elif self.b is not None:
            input = input + _channel_view(self.b, rank)
        return self.nonlinearity(input)


def weight_norm(layer, **kwargs):
    """Wraps `layer` in a `WeightNormLayer` (improved-gan's ``weight_norm``).

    Args:
      layer: a `DenseLayer`, `NINLayer`, `Conv1DLayer`, `Conv2DLayer`,
        `Deconv2DLayer` (or any layer with a variable ``W``).
      **kwargs: `WeightNormLayer` arguments; e.g. ``train_g=True,
        epsilon=0.0`` for openai/weightnorm's variant.

    Returns:
      The new `WeightNormLayer`; use it as the output of the block.
    """
    weight_axes(layer)
    nonlinearity = _strip(layer)
    kwargs.setdefault("nonlinearity", nonlinearity)
    return WeightNormLayer(layer, **kwargs)


class MeanOnlyBNLayer(Layer):
    """openai/weightnorm's mean-only batch norm with weight normalization.

    Training mode: ``nonlinearity(x - mean_batch(x) + b)``, and
    ``self.bn_updates = [(avg_batch_mean, 0.9 * avg + 0.1 * mean)]``.
    ``deterministic=True`` subtracts ``avg_batch_mean`` instead.  Init mode
    also divides by the batch std and sets ``self.init_updates =
    [(g, g / std)]``.  The wrapped ``W`` is normalized without epsilon
    unless given.

    Args:
      incoming: layer whose ``W`` gets normalized.
      b: bias spec or None (not regularizable).
      g: gain spec or None (trainable and regularizable, as upstream).
      W: initializer to re-sample the wrapped W with (upstream re-sampled
        from ``Normal(0.05)``), or None to keep it.
      nonlinearity: applied last.
      epsilon: added to ``sum(v**2)`` inside the sqrt (upstream: 0).
      name: optional layer name.
    """

    def __init__(self, incoming, b=init.Constant(0.), g=init.Constant(1.),
                 W=init.Normal(0.05), nonlinearity=nonlinearities.relu,
                 epsilon=0.0, **kwargs):
        super(MeanOnlyBNLayer, self).__init__(incoming, **kwargs)
        if epsilon < 0:
            raise ValueError("epsilon must be non-negative; got %r"
                             % (epsilon,))
        self.nonlinearity = (nonlinearities.identity if nonlinearity is None
                             else nonlinearity)
        k = self.input_shape[1]
        self.b = (None if b is None else self.add_param(
            b, (k,), name="b", regularizable=False))
        self.g = None if g is None else self.add_param(g, (k,), name="g")
        self.avg_batch_mean = self.add_param(
            init.Constant(0.), (k,), name="avg_batch_mean",
            regularizable=False, trainable=False)
        _reparametrize(self, incoming, self.g, epsilon, W)

    def get_output_for(self, input, deterministic=False, init=False,
                       **kwargs):
        rank = input.shape.ndims
        axes = [0] + list(range(2, rank))
        if deterministic:
            activation = input - _channel_view(self.avg_batch_mean, rank)
        else:
            m = theano_mean(input, axes)
            activation = input - _channel_view(m, rank)
            self.bn_updates = [(self.avg_batch_mean,
                                0.9 * self.avg_batch_mean + 0.1 * m)]
            if init:
                stdv = tf.sqrt(theano_mean(tf.square(activation), axes))
                activation = activation / _channel_view(stdv, rank)
                self.init_updates = ([] if self.g is None
                                     else [(self.g, self.g / stdv)])
        if self.b is not None:
            activation = activation + _channel_view(self.b, rank)
        return self.nonlinearity(activation)


def mean_only_bn(layer, **kwargs):
    """Wraps `layer` in a `MeanOnlyBNLayer` (openai/weightnorm's
    ``mean_only_bn``): moves its nonlinearity, drops its bias.

    Returns:
      The new `MeanOnlyBNLayer`.
    """
    weight_axes(layer)
    nonlinearity = _strip(layer)
    kwargs.setdefault("nonlinearity", nonlinearity)
    return MeanOnlyBNLayer(layer, **kwargs)
