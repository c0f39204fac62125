"""Functional weight-normalized layers.

Each layer computes ``activation(op(inputs, w) + bias)`` with
``w = g * v / sqrt(sum(v**2) + eps)``, one g per output channel.  All of
them are decorated with tf_slim's `add_arg_scope`, so
``tf_slim.arg_scope([tf1_wn.conv2d, tf1_wn.dense], init=True)`` configures a
whole model.

Arguments shared by every layer:

  activation: callable applied to the output, or None.
  use_bias: whether to add a per-channel bias.
  init: data-dependent init mode.  The output is computed from v alone,
    normalized to per-channel mean 0 and std `init_scale` on this batch, and
    ops assigning the matching g and bias are added to `tf1_wn.INIT_OPS`
    (run them with `tf1_wn.init_op()`).
  init_scale: target standard deviation of the pre-activation after init.
  trainable_g: when False, g is kept out of TRAINABLE_VARIABLES (data init
    still sets it).
  ema: a `tf.compat.v1.train.ExponentialMovingAverage`; read the averaged
    v, g and bias (Polyak averaging).  Not with `init=True`.
  eps: added to the sum of squares inside the norm (default
    `tf1_wn.DEFAULT_EPS` = 1e-12).
  kernel_initializer, bias_initializer, g_initializer: initializers of v
    (default normal with std 0.05; the direction's scale does not matter),
    bias (zeros) and g (ones).
  scope: variable scope (a string or a VariableScope).  None opens a fresh
    uniquely named scope on every call.
  reuse: reuse mode when `scope` is given; the default AUTO_REUSE shares
    the variables of every call with the same scope.

Variables, created with `tf.compat.v1.get_variable` in the layer's scope:
``v`` (the plain TF kernel layout), ``g`` and ``bias`` (``[out_channels]``),
in the input's dtype.  Every layer returns a tensor of the input's dtype and
raises RuntimeError in eager mode, TypeError for non-float inputs, ValueError
for a wrong rank, an unknown channel dimension or a bad argument value.
"""
from tf_slim.ops.arg_scope import add_arg_scope

from tf1_wn import builder
from tf1_wn import kernels
from tf1_wn.normalization import DEFAULT_EPS
from tf1_wn._tf import tf

AUTO_REUSE = tf.AUTO_REUSE


@add_arg_scope
def dense(inputs, units, activation=None, use_bias=True, init=False,
          init_scale=1.0, trainable_g=True, ema=None, eps=DEFAULT_EPS,
          kernel_initializer=None, bias_initializer=None, g_initializer=None,
          scope=None, reuse=AUTO_REUSE):
    """Weight-normalized fully connected layer over the last axis.

    Args:
      inputs: float tensor ``[batch, ..., in]`` with a known last dimension.
      units: number of output units.
      (others: see the module docstring)

    Returns:
      Tensor ``[batch, ..., units]``.

    Raises:
      RuntimeError, TypeError, ValueError: see the module docstring.
    """
    geometry = kernels.Dense(units, name="dense")
    return builder.build_weight_norm_layer(
        geometry, inputs, what="tf1_wn.dense", **_common(locals()))[0]


@add_arg_scope
def nin(inputs, units, activation=None, use_bias=True, init=False,
        init_scale=1.0, trainable_g=True, ema=None, eps=DEFAULT_EPS,
        kernel_initializer=None, bias_initializer=None, g_initializer=None,
        scope=None, reuse=AUTO_REUSE):
    """Network-in-network layer: a 1x1 dense over the last axis.

    Same computation as `dense`, for channels-last feature maps of any rank
    (statistics over every axis but the last); the default scope is ``nin``.

    Args:
      inputs: float tensor ``[batch, ..., channels]``.
      units: number of output channels.
      (others: see the module docstring)

    Returns:
      Tensor ``[batch, ..., units]``.

    Raises:
      RuntimeError, TypeError, ValueError: see the module docstring.
    """
    geometry = kernels.Dense(units, name="nin")
    return builder.build_weight_norm_layer(
        geometry, inputs, what="tf1_wn.nin", **_common(locals()))[0]


def _conv(n_spatial, inputs, filters, kernel_size, strides, padding,
          dilation_rate, data_format, what, common):
    geometry = kernels.Conv(n_spatial, filters, kernel_size, strides, padding,
                            dilation_rate, data_format)
    return builder.build_weight_norm_layer(
        geometry, inputs, what=what, **common)[0]


@add_arg_scope
def conv1d(inputs, filters, kernel_size, strides=1, padding="SAME",
           dilation_rate=1, data_format="NWC", activation=None, use_bias=True,
           init=False, init_scale=1.0, trainable_g=True, ema=None,
           eps=DEFAULT_EPS, kernel_initializer=None, bias_initializer=None,
           g_initializer=None, scope=None, reuse=AUTO_REUSE):
    """Weight-normalized 1-D convolution; v is ``[k, in, filters]``.

    Args:
      inputs: ``[batch, width, in]`` ('NWC') or ``[batch, in, width]``
        ('NCW').
      filters: number of output channels.
      kernel_size, strides, dilation_rate: int or 1-tuple.
      padding: 'SAME', 'VALID' or explicit ``[before, after]`` pairs.
      data_format: 'NWC' or 'NCW'.
      (others: see the module docstring)

    Returns:
      The output tensor, in `data_format`.

    Raises:
      RuntimeError, TypeError, ValueError: see the module docstring.
    """
    return _conv(1, inputs, filters, kernel_size, strides, padding,
                 dilation_rate, data_format, "tf1_wn.conv1d",
                 _common(locals()))


@add_arg_scope
def conv2d(inputs, filters, kernel_size, strides=1, padding="SAME",
           dilation_rate=1, data_format="NHWC", activation=None,
           use_bias=True, init=False, init_scale=1.0, trainable_g=True,
           ema=None, eps=DEFAULT_EPS, kernel_initializer=None,
           bias_initializer=None, g_initializer=None, scope=None,
           reuse=AUTO_REUSE):
    """Weight-normalized 2-D convolution; v is ``[kh, kw, in, filters]``.

    Args:
      inputs: ``[batch, height, width, in]`` ('NHWC') or
        ``[batch, in, height, width]`` ('NCHW').
      filters: number of output channels.
      kernel_size, strides, dilation_rate: int or 2-tuple.
      padding: 'SAME', 'VALID' or explicit ``[before, after]`` pairs, as
        `tf.nn.conv2d` takes them.
      data_format: 'NHWC' or 'NCHW'.
      (others: see the module docstring)

    Returns:
      The output tensor, in `data_format`.

    Raises:
      RuntimeError, TypeError, ValueError: see the module docstring.
    """
    return _conv(2, inputs, filters, kernel_size, strides, padding,
                 dilation_rate, data_format, "tf1_wn.conv2d",
                 _common(locals()))


@add_arg_scope
def conv3d(inputs, filters, kernel_size, strides=1, padding="SAME",
           dilation_rate=1, data_format="NDHWC", activation=None,
           use_bias=True, init=False, init_scale=1.0, trainable_g=True,
           ema=None, eps=DEFAULT_EPS, kernel_initializer=None,
           bias_initializer=None, g_initializer=None, scope=None,
           reuse=AUTO_REUSE):
    """Weight-normalized 3-D convolution; v is ``[kd, kh, kw, in, filters]``.

    Args:
      inputs: 'NDHWC' or 'NCDHW' tensor.
      filters: number of output channels.
      kernel_size, strides, dilation_rate: int or 3-tuple.
      padding: 'SAME', 'VALID' or explicit ``[before, after]`` pairs.
      data_format: 'NDHWC' or 'NCDHW'.
      (others: see the module docstring)

    Returns:
      The output tensor, in `data_format`.

    Raises:
      RuntimeError, TypeError, ValueError: see the module docstring.
    """
    return _conv(3, inputs, filters, kernel_size, strides, padding,
                 dilation_rate, data_format, "tf1_wn.conv3d",
                 _common(locals()))


@add_arg_scope
def conv2d_transpose(inputs, filters, kernel_size, strides=1, padding="SAME",
                     data_format="NHWC", activation=None, use_bias=True,
                     init=False, init_scale=1.0, trainable_g=True, ema=None,
                     eps=DEFAULT_EPS, kernel_initializer=None,
                     bias_initializer=None, g_initializer=None, scope=None,
                     reuse=AUTO_REUSE):
    """Weight-normalized transposed 2-D convolution.

    v has TF's transposed layout ``[kh, kw, filters, in]``; its norm is
    taken per OUTPUT channel (axes 0, 1, 3), unlike TF Addons' wrapper.
    Output size: ``H * s`` for SAME, ``(H - 1) * s + k`` for VALID,
    ``(H - 1) * s + k - before - after`` for explicit padding.

    Args:
      inputs: 'NHWC' or 'NCHW' tensor.
      filters: number of output channels.
      kernel_size, strides: int or 2-tuple.
      padding: 'SAME', 'VALID' or explicit ``[before, after]`` pairs.
      data_format: 'NHWC' or 'NCHW'.
      (others: see the module docstring)

    Returns:
      The output tensor, in `data_format`.

    Raises:
      RuntimeError, TypeError, ValueError: see the module docstring.
    """
    geometry = kernels.ConvTranspose(filters, kernel_size, strides, padding,
                                     data_format)
    return builder.build_weight_norm_layer(
        geometry, inputs, what="tf1_wn.conv2d_transpose",
        **_common(locals()))[0]


@add_arg_scope
def depthwise_conv2d(inputs, kernel_size, depth_multiplier=1, strides=1,
                     padding="SAME", dilation_rate=1, data_format="NHWC",
                     activation=None, use_bias=True, init=False,
                     init_scale=1.0, trainable_g=True, ema=None,
                     eps=DEFAULT_EPS, kernel_initializer=None,
                     bias_initializer=None, g_initializer=None, scope=None,
                     reuse=AUTO_REUSE):
    """Weight-normalized depthwise 2-D convolution.

    v is ``[kh, kw, in, depth_multiplier]``, normalized over the spatial
    axes for each (input channel, multiplier) pair; g and bias have
    ``in * depth_multiplier`` entries (output channel ``i * mult + m``).

    Args:
      inputs: 'NHWC' or 'NCHW' tensor.
      kernel_size, dilation_rate: int or 2-tuple.
      depth_multiplier: output channels per input channel.
      strides: int or 2-tuple with equal entries.
      padding: 'SAME', 'VALID' or explicit ``[before, after]`` pairs.
      data_format: 'NHWC' or 'NCHW'.
      (others: see the module docstring)

    Returns:
      The output tensor, in `data_format`.

    Raises:
      RuntimeError, TypeError, ValueError: see the module docstring.
    """
    geometry = kernels.DepthwiseConv(kernel_size, depth_multiplier, strides,
                                     padding, dilation_rate, data_format)
    return builder.build_weight_norm_layer(
        geometry, inputs, what="tf1_wn.depthwise_conv2d",
        **_common(locals()))[0]


_COMMON_ARGUMENTS = (
    "activation", "use_bias", "init", "init_scale", "trainable_g", "ema",
    "eps", "kernel_initializer", "bias_initializer", "g_initializer", "scope",
    "reuse")


def _common(arguments):
    """The shared keyword arguments out of a layer function's locals()."""
    return {name: arguments[name] for name in _COMMON_ARGUMENTS}
