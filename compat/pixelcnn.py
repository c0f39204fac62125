"""openai/pixel-cnn's ``pixel_cnn_pp/nn.py`` on tf1-wn's layers.

``from tf1_wn.compat import pixelcnn as nn`` in place of
``import pixel_cnn_pp.nn as nn``: the same functions, signatures, defaults
and variable names (``<layer>_<k>/V``, ``/g``, ``/b`` under the scope names
``get_name`` hands out from ``counters``), so pixel-cnn checkpoints restore
with a plain `tf.train.Saver`.  What changes is underneath:

* the layers are tf1-wn's (`tf1_wn.layers.weight_norm`): fused native
  kernels on the CPU, closed-form gradients, float32 norms for half
  inputs, ``g * v / sqrt(sum(v**2) + 1e-12)`` everywhere (pixel-cnn's
  ``dense`` has no epsilon and its convolutions floor the sum of squares
  at 1e-12: a relative change of ``0.5e-12 / sum(v**2)``, invisible in
  float32);
* data init (``init=True``) is tf1-wn's: the statistics come from v alone
  and g and b are assigned outright, so the init pass is exact whatever g
  and b held and can be re-run (pixel-cnn multiplies g and adds to b,
  which is exact only from g = 1, b = 0); the init ops are also in
  `tf1_wn.INIT_OPS`, and `tf1_wn.sync_ema(ema)` copies the result into the
  moving averages in one call;
* a VALID ``deconv2d`` asks tf1-wn for pixel-cnn's size ``H * s + k - 1``
  through ``output_padding``.

Every function here calls this module's own functions (``nin`` calls
``dense``, ``gated_resnet`` calls ``nin`` and its ``conv``), so
``arg_scope([nn.conv2d, nn.dense, ...], counters=..., init=..., ema=...)``
configures them as in pixel-cnn's ``model.py``.
"""
import numpy as np
from tf_slim.ops.arg_scope import add_arg_scope

from tf1_wn import geometry
from tf1_wn._tf import tf
from tf1_wn.layers.weight_norm import build_weight_norm_layer

#: pixel-cnn's variable names: direction, gain, bias.
VARIABLE_NAMES = ("V", "g", "b")
_INITIALIZER_STDDEV = 0.05


def int_shape(x):
    """The static shape of `x` as a list of ints."""
    return list(map(int, x.get_shape()))


def concat_elu(x):
    """``elu(concat([x, -x]))`` over the last axis."""
    return tf.nn.elu(tf.concat([x, -x], len(x.get_shape()) - 1))


def log_sum_exp(x):
    """``log(sum(exp(x)))`` over the last axis, shifted by its maximum."""
    axis = len(x.get_shape()) - 1
    top = tf.reduce_max(x, axis, keepdims=True)
    return tf.squeeze(top, axis) + tf.log(
        tf.reduce_sum(tf.exp(x - top), axis))


def log_prob_from_logits(x):
    """log-softmax over the last axis, shifted by its maximum."""
    axis = len(x.get_shape()) - 1
    top = tf.reduce_max(x, axis, keepdims=True)
    return x - top - tf.log(tf.reduce_sum(tf.exp(x - top), axis,
                                          keepdims=True))


def get_var_maybe_avg(var_name, ema, **kwargs):
    """``tf.get_variable(var_name, **kwargs)``, or its moving average when
    `ema` is given."""
    variable = tf.get_variable(var_name, **kwargs)
    return variable if ema is None else ema.average(variable)


def get_vars_maybe_avg(var_names, ema, **kwargs):
    """`get_var_maybe_avg` for each name."""
    return [get_var_maybe_avg(name, ema, **kwargs) for name in var_names]


def adam_updates(params, cost_or_grads, lr=0.001, mom1=0.9, mom2=0.999):
    """pixel-cnn's Adam: one grouped op.

    With ``t`` starting at 1: ``v = mom1 v + (1 - mom1) g``,
    ``mg = mom2 mg + (1 - mom2) g**2``, ``p -= lr * v_hat / sqrt(mg_hat +
    1e-8)`` with the bias-corrected ``v_hat``, ``mg_hat`` (``v_hat = g``
    when ``mom1 == 0``).  The state variables are created as pixel-cnn
    creates them (``t`` first, then per parameter ``mg`` and ``v``; their
    second positional argument is TF1's `trainable`, so they are named
    ``Variable``, ``Variable_1``, ...), so its checkpoints' Adam state
    restores.  One difference: pixel-cnn's increment of ``t`` is not
    ordered after the reads of ``t`` (so a step may use ``t + 1``); here it
    is.

    Args:
      params: the variables.
      cost_or_grads: a scalar cost, or a list of gradients.
      lr, mom1, mom2: learning rate and moment decays.

    Returns:
      A `tf.Operation`.
    """
    if type(cost_or_grads) is not list:
        grads = tf.gradients(cost_or_grads, params)
    else:
        grads = cost_or_grads
    updates = []
    t = tf.Variable(1., 'adam_t')
    for p, g in zip(params, grads):
        mg = tf.Variable(tf.zeros(p.get_shape()), p.name + '_adam_mg')
        if mom1 > 0:
            v = tf.Variable(tf.zeros(p.get_shape()), p.name + '_adam_v')
            v_t = mom1 * v + (1. - mom1) * g
            v_hat = v_t / (1. - tf.pow(mom1, t))
            updates.append(v.assign(v_t))
        else:
            v_hat = g
        mg_t = mom2 * mg + (1. - mom2) * tf.square(g)
        mg_hat = mg_t / (1. - tf.pow(mom2, t))
        updates.append(mg.assign(mg_t))
        updates.append(p.assign(p - lr * v_hat / tf.sqrt(mg_hat + 1e-8)))
    # pixel-cnn groups t's increment with the reads of t, which TensorFlow
    # may run in either order; here t moves after every update has read it.
    with tf.control_dependencies(updates):
        updates.append(t.assign_add(1))
    return tf.group(*updates)


def get_name(layer_name, counters):
    """``layer_name + '_' + k`` for the k-th call with `counters`."""
    count = counters.setdefault(layer_name, 0)
    counters[layer_name] = count + 1
    return "%s_%d" % (layer_name, count)


def _layer(geometry_object, x, what, name, nonlinearity, init_scale, init,
           ema):
    outputs, _ = build_weight_norm_layer(
        geometry_object, x, what=what, activation=nonlinearity, init=init,
        init_scale=init_scale, ema=ema, scope=name, reuse=None,
        kernel_initializer=tf.random_normal_initializer(
            0, _INITIALIZER_STDDEV),
        variable_names=VARIABLE_NAMES)
    return outputs


@add_arg_scope
def dense(x_, num_units, nonlinearity=None, init_scale=1., counters={},
          init=False, ema=None, **kwargs):
    """Weight-normalized fully connected layer (``V [in, units]``)."""
    return _layer(geometry.Dense(num_units), x_, "pixelcnn.dense",
                  get_name('dense', counters), nonlinearity, init_scale,
                  init, ema)


@add_arg_scope
def conv2d(x_, num_filters, filter_size=[3, 3], stride=[1, 1], pad='SAME',
           nonlinearity=None, init_scale=1., counters={}, init=False,
           ema=None, **kwargs):
    """Weight-normalized convolution (``V [kh, kw, in, filters]``)."""
    return _layer(
        geometry.Conv(2, num_filters, list(filter_size), list(stride), pad),
        x_, "pixelcnn.conv2d", get_name('conv2d', counters), nonlinearity,
        init_scale, init, ema)


@add_arg_scope
def deconv2d(x_, num_filters, filter_size=[3, 3], stride=[1, 1], pad='SAME',
             nonlinearity=None, init_scale=1., counters={}, init=False,
             ema=None, **kwargs):
    """Weight-normalized transposed convolution (``V [kh, kw, filters,
    in]``); output ``H * s`` for SAME, ``H * s + k - 1`` for VALID."""
    name = get_name('deconv2d', counters)
    output_padding = None
    if pad != 'SAME':
        output_padding = [s - 1 for s in stride]
    return _layer(
        geometry.ConvTranspose(num_filters, list(filter_size), list(stride),
                               pad, output_padding=output_padding),
        x_, "pixelcnn.deconv2d", name, nonlinearity, init_scale, init, ema)


@add_arg_scope
def nin(x, num_units, **kwargs):
    """A 1x1 layer: `dense` over the last axis of any rank."""
    shape = int_shape(x)
    flat = tf.reshape(x, [int(np.prod(shape[:-1])), shape[-1]])
    return tf.reshape(dense(flat, num_units, **kwargs),
                      shape[:-1] + [num_units])


@add_arg_scope
def gated_resnet(x, a=None, h=None, nonlinearity=concat_elu, conv=conv2d,
                 init=False, counters={}, ema=None, dropout_p=0.,
                 dropout_in_init=True, **kwargs):
    """pixel-cnn's gated residual block: ``x + a * sigmoid(b)`` with
    ``(a, b)`` the halves of ``conv(dropout(nl(conv(nl(x)) +
    nin(nl(a)))))`` plus an optional projection of the conditioning `h`.

    `dropout_in_init` (tf1-wn's addition; default True, as pixel-cnn):
    with False, the ``init=True`` pass runs without dropout, so data init
    normalizes the model that is evaluated.  ``train.py`` inits with
    ``dropout_p=0.5``, which leaves the deterministic model's statistics
    off target (docs/pixelcnn.md).
    """
    shape = int_shape(x)
    filters = shape[-1]
    c1 = conv(nonlinearity(x), filters)
    if a is not None:
        c1 += nin(nonlinearity(a), filters)
    c1 = nonlinearity(c1)
    if dropout_p > 0 and (dropout_in_init or not init):
        c1 = tf.nn.dropout(c1, rate=dropout_p)
    c2 = conv(c1, filters * 2, init_scale=0.1)
    if h is not None:
        with tf.variable_scope(get_name('conditional_weights', counters)):
            hw = get_var_maybe_avg(
                'hw', ema, shape=[int_shape(h)[-1], 2 * filters],
                dtype=tf.float32,
                initializer=tf.random_normal_initializer(
                    0, _INITIALIZER_STDDEV), trainable=True)
        if init:
            hw = hw.initialized_value()
        c2 += tf.reshape(tf.matmul(h, hw), [shape[0], 1, 1, 2 * filters])
    gate_in, gate = tf.split(c2, 2, 3)
    return x + gate_in * tf.nn.sigmoid(gate)


def down_shift(x):
    """Shifts the image down by one row (zeros on top)."""
    shape = int_shape(x)
    return tf.concat([tf.zeros([shape[0], 1, shape[2], shape[3]], x.dtype),
                      x[:, :shape[1] - 1, :, :]], 1)


def right_shift(x):
    """Shifts the image right by one column (zeros on the left)."""
    shape = int_shape(x)
    return tf.concat([tf.zeros([shape[0], shape[1], 1, shape[3]], x.dtype),
                      x[:, :, :shape[2] - 1, :]], 2)


@add_arg_scope
def down_shifted_conv2d(x, num_filters, filter_size=[2, 3], stride=[1, 1],
                        **kwargs):
    """A conv that sees only rows above (and the current row)."""
    side = int((filter_size[1] - 1) / 2)
    x = tf.pad(x, [[0, 0], [filter_size[0] - 1, 0], [side, side], [0, 0]])
    return conv2d(x, num_filters, filter_size=filter_size, pad='VALID',
                  stride=stride, **kwargs)


@add_arg_scope
def down_shifted_deconv2d(x, num_filters, filter_size=[2, 3], stride=[1, 1],
                          **kwargs):
    """The transposed counterpart of `down_shifted_conv2d`."""
    x = deconv2d(x, num_filters, filter_size=filter_size, pad='VALID',
                 stride=stride, **kwargs)
    shape = int_shape(x)
    side = int((filter_size[1] - 1) / 2)
    return x[:, :(shape[1] - filter_size[0] + 1), side:(shape[2] - side), :]


@add_arg_scope
def down_right_shifted_conv2d(x, num_filters, filter_size=[2, 2],
                              stride=[1, 1], **kwargs):
    """A conv that sees only pixels above and to the left."""
    x = tf.pad(x, [[0, 0], [filter_size[0] - 1, 0], [filter_size[1] - 1, 0],
                   [0, 0]])
    return conv2d(x, num_filters, filter_size=filter_size, pad='VALID',
                  stride=stride, **kwargs)


@add_arg_scope
def down_right_shifted_deconv2d(x, num_filters, filter_size=[2, 2],
                                stride=[1, 1], **kwargs):
    """The transposed counterpart of `down_right_shifted_conv2d`."""
    x = deconv2d(x, num_filters, filter_size=filter_size, pad='VALID',
                 stride=stride, **kwargs)
    shape = int_shape(x)
    return x[:, :(shape[1] - filter_size[0] + 1),
             :(shape[2] - filter_size[1] + 1), :]


# -- the discretized mixture of logistics ---------------------------------
#
# Per pixel, ``l`` holds ``nr_mix`` mixture logits, then for each of the 3
# colour channels ``nr_mix`` means, ``nr_mix`` log scales and ``nr_mix``
# coefficients (``10 * nr_mix`` in all, channel-major after the logits).
# Green's mean moves by ``c0 * red``, blue's by ``c1 * red + c2 * green``.

def _mixture_params(l, nr_mix, image_shape):  # noqa: E741 (pixel-cnn's)
    logits = l[:, :, :, :nr_mix]
    rest = tf.reshape(l[:, :, :, nr_mix:], image_shape + [nr_mix * 3])
    means = rest[:, :, :, :, :nr_mix]
    log_scales = tf.maximum(rest[:, :, :, :, nr_mix:2 * nr_mix], -7.)
    coeffs = tf.nn.tanh(rest[:, :, :, :, 2 * nr_mix:3 * nr_mix])
    return logits, means, log_scales, coeffs


def discretized_mix_logistic_loss(x, l, sum_all=True):  # noqa: E741
    """Negative log-likelihood of images `x` (in [-1, 1], 256 levels)
    under the mixture of discretized logistics `l`.

    Args:
      x: ``[B, H, W, 3]`` images.
      l: ``[B, H, W, 10 * nr_mix]`` mixture parameters.
      sum_all: sum over everything (a scalar), else per image ``[B]``.

    Returns:
      The negative log-likelihood in nats.
    """
    shape = int_shape(x)
    nr_mix = int(int_shape(l)[-1] / 10)
    logits, means, log_scales, coeffs = _mixture_params(l, nr_mix, shape)
    x = tf.reshape(x, shape + [1]) + tf.zeros(shape + [nr_mix], x.dtype)
    red, green = x[:, :, :, 0:1, :], x[:, :, :, 1:2, :]
    means = tf.concat([
        means[:, :, :, 0:1, :],
        means[:, :, :, 1:2, :] + coeffs[:, :, :, 0:1, :] * red,
        means[:, :, :, 2:3, :] + coeffs[:, :, :, 1:2, :] * red
        + coeffs[:, :, :, 2:3, :] * green], 3)
    centered = x - means
    inv_scale = tf.exp(-log_scales)
    upper = inv_scale * (centered + 1. / 255.)
    lower = inv_scale * (centered - 1. / 255.)
    mid = inv_scale * centered
    # log of the bin's mass: its lower edge is -inf for x = -1, its upper
    # edge +inf for x = 1; a bin of mass below 1e-5 takes the density at
    # its centre instead (the maximum avoids NaN through tf.where).
    log_first_bin = upper - tf.nn.softplus(upper)
    log_last_bin = -tf.nn.softplus(lower)
    mass = tf.nn.sigmoid(upper) - tf.nn.sigmoid(lower)
    log_mid_density = mid - log_scales - 2. * tf.nn.softplus(mid)
    log_probs = tf.where(
        x < -0.999, log_first_bin,
        tf.where(x > 0.999, log_last_bin,
                 tf.where(mass > 1e-5, tf.log(tf.maximum(mass, 1e-12)),
                          log_mid_density - np.log(127.5))))
    log_probs = tf.reduce_sum(log_probs, 3) + log_prob_from_logits(logits)
    if sum_all:
        return -tf.reduce_sum(log_sum_exp(log_probs))
    return -tf.reduce_sum(log_sum_exp(log_probs), [1, 2])


def sample_from_discretized_mix_logistic(l, nr_mix):  # noqa: E741
    """One image sample per batch entry from the mixture `l`.

    The component is drawn by the Gumbel-max trick, then a logistic sample
    of each channel in turn (green and blue moved by the earlier channels'
    samples), clipped to [-1, 1].  Two `tf.random_uniform` draws, in that
    order, in (1e-5, 1 - 1e-5).

    Returns:
      ``[B, H, W, 3]`` samples.
    """
    shape = int_shape(l)[:-1] + [3]
    logits, means, log_scales, coeffs = _mixture_params(l, nr_mix, shape)
    gumbel = -tf.log(-tf.log(tf.random_uniform(
        logits.get_shape(), minval=1e-5, maxval=1. - 1e-5)))
    chosen = tf.reshape(
        tf.one_hot(tf.argmax(logits + gumbel, 3), depth=nr_mix,
                   dtype=tf.float32), shape[:-1] + [1, nr_mix])
    mean = tf.reduce_sum(means * chosen, 4)
    log_scale = tf.reduce_sum(log_scales * chosen, 4)  # clamped at -7
    coeff = tf.reduce_sum(coeffs * chosen, 4)
    u = tf.random_uniform(mean.get_shape(), minval=1e-5, maxval=1. - 1e-5)
    x = mean + tf.exp(log_scale) * (tf.log(u) - tf.log(1. - u))

    def clip(value):
        return tf.minimum(tf.maximum(value, -1.), 1.)
    red = clip(x[:, :, :, 0])
    green = clip(x[:, :, :, 1] + coeff[:, :, :, 0] * red)
    blue = clip(x[:, :, :, 2] + coeff[:, :, :, 1] * red
                + coeff[:, :, :, 2] * green)
    return tf.stack([red, green, blue], 3)


def energy_distance(x, x_sample):
    """The energy distance between images `x` and a list of samples, on
    0..255 pixel scale: ``2 * E|x - s| - E|s - s'|`` with ``|d| =
    (1e-10 + sum_c d**2) ** 0.75`` summed over pixels."""
    def distance(a, b):
        return tf.reduce_sum(tf.pow(
            1e-10 + tf.reduce_sum(tf.square(127.5 * (a - b)), 3), 0.75))
    to_data = sum(distance(x, s) for s in x_sample) / len(x_sample)
    pairs = [(i, j) for i in range(len(x_sample))
             for j in range(i + 1, len(x_sample))]
    between = sum(distance(x_sample[i], x_sample[j])
                  for i, j in pairs) / len(pairs)
    return 2. * to_data - between
