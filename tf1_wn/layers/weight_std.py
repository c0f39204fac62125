"""Weight-standardized convolutions: functional layers and layer objects.

Each layer computes ``activation(op(inputs, w) + bias)`` with
``w = gain * (kernel - mean) / std``, the statistics taken per output channel
over every other kernel axis (`tf1_wn.standardization`).  The functional
layers are decorated with tf_slim's `add_arg_scope`; the objects own one
variable scope and reuse it on every call, like `tf1_wn.modules`.

Arguments shared by every layer:

  activation: callable applied to the output, or None.
  use_bias: whether to add a per-channel bias.
  gain: whether to learn a per-output-channel gain (initialized to ones).
  variant: ``'paper'`` (default: unbiased std, ``std + 1e-5``),
    ``'paper_tf'`` (biased std, ``std + 1e-5``), ``'bit'`` (biased,
    ``sqrt(var + 1e-10)``), ``'timm'`` (biased, ``sqrt(var + 1e-6)``), or
    None with all of `eps`, `eps_placement`, `unbiased` given.
  eps: positive float overriding the variant's.
  eps_placement: ``'std'`` or ``'var'``, overriding the variant's.
  unbiased: bool, overriding the variant's.
  ema: a `tf.compat.v1.train.ExponentialMovingAverage`; read the averaged
    kernel, gain and bias.
  kernel_initializer, bias_initializer, gain_initializer: initializers of
    kernel (default normal with std 0.05; its scale only sets the effective
    learning rate), bias (zeros) and gain (ones).
  scope: variable scope; None opens a fresh uniquely named scope
    (``ws_conv2d``, ``ws_conv2d_1``, ...) on every call.
  reuse: reuse mode when `scope` is given; the default AUTO_REUSE shares the
    variables of every call with the same scope.

Variables, created with `tf.compat.v1.get_variable` in the layer's scope and
in the input's dtype: ``kernel`` (the plain TF layout), ``gain`` (with
``gain=True``) and ``bias``, both ``[out_channels]``.  The statistics are
computed in float32 for float16/bfloat16 inputs; the output has the input's
dtype.  Every layer raises RuntimeError in eager mode, TypeError for
non-float inputs or a non-callable activation, and ValueError for a wrong
rank, an unknown channel dimension or a bad argument value.
"""
import collections

from tf_slim.ops.arg_scope import add_arg_scope

from tf1_wn import builder
from tf1_wn import kernels
from tf1_wn import modules
from tf1_wn import standardization
from tf1_wn._tf import tf

AUTO_REUSE = tf.AUTO_REUSE

#: The variables of one weight-standardized layer (gain and bias may be
#: None).
WeightStandardizedVariables = collections.namedtuple(
    "WeightStandardizedVariables", ["kernel", "gain", "bias"])


def build_weight_standardized_layer(
        geometry, inputs, *, what, activation=None, use_bias=True,
        gain=False, variant="paper", eps=None, eps_placement=None,
        unbiased=None, ema=None, kernel_initializer=None,
        bias_initializer=None, gain_initializer=None, scope=None,
        reuse=AUTO_REUSE):
    """Creates (or reuses) kernel, gain, bias and applies the layer.

    Args:
      geometry: a `tf1_wn.kernels` object.
      inputs: the input tensor.
      what: the public name of the builder, for error messages.
      Other arguments: as documented in the module docstring.

    Returns:
      ``(outputs, WeightStandardizedVariables)``.

    Raises:
      RuntimeError: in eager mode.
      TypeError: non-float inputs, non-callable activation.
      ValueError: wrong rank, unknown channel dimension, bad variant
        arguments.
    """
    inputs, in_channels = builder.checked_inputs(geometry, inputs, what,
                                                 activation)
    config = standardization.resolve_variant(
        variant, eps, eps_placement, unbiased)
    dtype = inputs.dtype.base_dtype
    out_channels = geometry.out_channels(in_channels)

    with builder.layer_scope(scope, geometry.default_name, reuse):
        kernel = tf.get_variable(
            "kernel", geometry.kernel_shape(in_channels), dtype,
            initializer=kernel_initializer or tf.random_normal_initializer(
                0.0, builder.DEFAULT_KERNEL_INITIALIZER_STDDEV))
        gain_var = None
        if gain:
            gain_var = tf.get_variable(
                "gain", [out_channels], dtype,
                initializer=gain_initializer or tf.ones_initializer())
        bias = None
        if use_bias:
            bias = tf.get_variable(
                "bias", [out_channels], dtype,
                initializer=bias_initializer or tf.zeros_initializer())
        variables = WeightStandardizedVariables(kernel, gain_var, bias)
        if ema is not None:
            kernel = builder.averaged(ema, kernel)
            gain_var = gain_var if gain_var is None else builder.averaged(
                ema, gain_var)
            bias = bias if bias is None else builder.averaged(ema, bias)
        weight = standardization.standardize_weight(
            kernel, geometry.reduce_axes, gain_var, config)
        outputs = geometry.apply(inputs, weight)
        if bias is not None:
            outputs = builder.bias_add(outputs, bias,
                                       geometry.channel_axis == 1)
        if activation is not None:
            outputs = activation(outputs)
    return outputs, variables


_COMMON_ARGUMENTS = (
    "activation", "use_bias", "gain", "variant", "eps", "eps_placement",
    "unbiased", "ema", "kernel_initializer", "bias_initializer",
    "gain_initializer", "scope", "reuse")


def _common(arguments):
    """The shared keyword arguments out of a layer function's locals()."""
    return {name: arguments[name] for name in _COMMON_ARGUMENTS}


def _conv(n_spatial, inputs, filters, kernel_size, strides, padding,
          dilation_rate, data_format, common):
    geometry = kernels.Conv(n_spatial, filters, kernel_size, strides, padding,
                            dilation_rate, data_format,
                            name=f"ws_conv{n_spatial}d")
    return build_weight_standardized_layer(
        geometry, inputs, what=f"tf1_wn.ws_conv{n_spatial}d", **common)[0]


@add_arg_scope
def ws_conv1d(inputs, filters, kernel_size, strides=1, padding="SAME",
              dilation_rate=1, data_format="NWC", activation=None,
              use_bias=True, gain=False, variant="paper", eps=None,
              eps_placement=None, unbiased=None, ema=None,
              kernel_initializer=None, bias_initializer=None,
              gain_initializer=None, scope=None, reuse=AUTO_REUSE):
    """Weight-standardized 1-D convolution; kernel ``[k, in, filters]``.

    Args:
      inputs: ``[batch, width, in]`` ('NWC') or ``[batch, in, width]``
        ('NCW').
      filters: number of output channels.
      kernel_size, strides, dilation_rate: int or 1-tuple.
      padding: 'SAME', 'VALID' or explicit ``[before, after]`` pairs.
      data_format: 'NWC' or 'NCW'.
      (others: see the module docstring)

    Returns:
      The output tensor, in `data_format` and the input's dtype.

    Raises:
      RuntimeError, TypeError, ValueError: see the module docstring.
    """
    return _conv(1, inputs, filters, kernel_size, strides, padding,
                 dilation_rate, data_format, _common(locals()))


@add_arg_scope
def ws_conv2d(inputs, filters, kernel_size, strides=1, padding="SAME",
              dilation_rate=1, data_format="NHWC", activation=None,
              use_bias=True, gain=False, variant="paper", eps=None,
              eps_placement=None, unbiased=None, ema=None,
              kernel_initializer=None, bias_initializer=None,
              gain_initializer=None, scope=None, reuse=AUTO_REUSE):
    """Weight-standardized 2-D convolution; kernel ``[kh, kw, in, filters]``.

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
      The output tensor, in `data_format` and the input's dtype.

    Raises:
      RuntimeError, TypeError, ValueError: see the module docstring.
    """
    return _conv(2, inputs, filters, kernel_size, strides, padding,
                 dilation_rate, data_format, _common(locals()))


@add_arg_scope
def ws_conv3d(inputs, filters, kernel_size, strides=1, padding="SAME",
              dilation_rate=1, data_format="NDHWC", activation=None,
              use_bias=True, gain=False, variant="paper", eps=None,
              eps_placement=None, unbiased=None, ema=None,
              kernel_initializer=None, bias_initializer=None,
              gain_initializer=None, scope=None, reuse=AUTO_REUSE):
    """Weight-standardized 3-D convolution; kernel
    ``[kd, kh, kw, in, filters]``.

    Args:
      inputs: 'NDHWC' or 'NCDHW' tensor.
      filters: number of output channels.
      kernel_size, strides, dilation_rate: int or 3-tuple.
      padding: 'SAME', 'VALID' or explicit ``[before, after]`` pairs.
      data_format: 'NDHWC' or 'NCDHW'.
      (others: see the module docstring)

    Returns:
      The output tensor, in `data_format` and the input's dtype.

    Raises:
      RuntimeError, TypeError, ValueError: see the module docstring.
    """
    return _conv(3, inputs, filters, kernel_size, strides, padding,
                 dilation_rate, data_format, _common(locals()))


@add_arg_scope
def ws_conv2d_transpose(inputs, filters, kernel_size, strides=1,
                        padding="SAME", data_format="NHWC", activation=None,
                        use_bias=True, gain=False, variant="paper", eps=None,
                        eps_placement=None, unbiased=None, ema=None,
                        kernel_initializer=None, bias_initializer=None,
                        gain_initializer=None, scope=None, reuse=AUTO_REUSE):
    """Weight-standardized transposed 2-D convolution.

    The kernel has TF's transposed layout ``[kh, kw, filters, in]``; it is
    standardized per OUTPUT channel (axis 2), over axes 0, 1 and 3.  Output
    size as `tf1_wn.conv2d_transpose`: ``H * s`` for SAME,
    ``(H - 1) * s + k`` for VALID.

    Args:
      inputs: 'NHWC' or 'NCHW' tensor.
      filters: number of output channels.
      kernel_size, strides: int or 2-tuple.
      padding: 'SAME', 'VALID' or explicit ``[before, after]`` pairs.
      data_format: 'NHWC' or 'NCHW'.
      (others: see the module docstring)

    Returns:
      The output tensor, in `data_format` and the input's dtype.

    Raises:
      RuntimeError, TypeError, ValueError: see the module docstring.
    """
    geometry = kernels.ConvTranspose(filters, kernel_size, strides, padding,
                                     data_format, name="ws_conv2d_transpose")
    return build_weight_standardized_layer(
        geometry, inputs, what="tf1_wn.ws_conv2d_transpose",
        **_common(locals()))[0]


@add_arg_scope
def ws_depthwise_conv2d(inputs, kernel_size, depth_multiplier=1, strides=1,
                        padding="SAME", dilation_rate=1, data_format="NHWC",
                        activation=None, use_bias=True, gain=False,
                        variant="paper", eps=None, eps_placement=None,
                        unbiased=None, ema=None, kernel_initializer=None,
                        bias_initializer=None, gain_initializer=None,
                        scope=None, reuse=AUTO_REUSE):
    """Weight-standardized depthwise 2-D convolution.

    The kernel ``[kh, kw, in, depth_multiplier]`` is standardized over the
    spatial axes for each (input channel, multiplier) pair, so each
    channel has only ``kh * kw`` entries (a 1x1 kernel standardizes to 0;
    the unbiased ``'paper'`` variant rejects it).  gain and bias have
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
      The output tensor, in `data_format` and the input's dtype.

    Raises:
      RuntimeError, TypeError, ValueError: see the module docstring.
    """
    geometry = kernels.DepthwiseConv(kernel_size, depth_multiplier, strides,
                                     padding, dilation_rate, data_format,
                                     name="ws_depthwise_conv2d")
    return build_weight_standardized_layer(
        geometry, inputs, what="tf1_wn.ws_depthwise_conv2d",
        **_common(locals()))[0]


class _WeightStandardizedLayer(modules.LayerObject):
    """Base of the weight-standardized layer objects."""

    _build = staticmethod(build_weight_standardized_layer)

    def __init__(self, geometry, activation=None, use_bias=True, gain=False,
                 variant="paper", eps=None, eps_placement=None,
                 unbiased=None, ema=None, kernel_initializer=None,
                 bias_initializer=None, gain_initializer=None, name=None):
        config = standardization.resolve_variant(
            variant, eps, eps_placement, unbiased)
        super().__init__(geometry, dict(
            activation=activation, use_bias=use_bias, gain=gain,
            variant=None, eps=config.eps,
            eps_placement=config.eps_placement, unbiased=config.unbiased,
            ema=ema, kernel_initializer=kernel_initializer,
            bias_initializer=bias_initializer,
            gain_initializer=gain_initializer), name=name)

    def __call__(self, inputs):
        """Applies the layer.

        Args:
          inputs: float tensor (see the matching functional layer).

        Returns:
          The output tensor.

        Raises:
          RuntimeError, TypeError, ValueError: as the functional layers.
        """
        return self._call(inputs)

    @property
    def kernel(self):
        """The raw (unstandardized) kernel variable, plain TF layout."""
        return self._connected().kernel

    @property
    def gain(self):
        """The per-output-channel gain variable, or None without one."""
        return self._connected().gain


class WeightStandardizedConv1D(_WeightStandardizedLayer):
    """Weight-standardized 1-D convolution object (see `tf1_wn.ws_conv1d`).

    Args:
      filters, kernel_size, strides, padding, dilation_rate, data_format:
        as `tf1_wn.ws_conv1d`.
      name: variable scope name (made unique); default ``ws_conv1d``.
      **options: activation, use_bias, gain, variant, eps, eps_placement,
        unbiased, ema and the initializers, as `tf1_wn.ws_conv1d`.

    Raises:
      RuntimeError: in eager mode.
      ValueError, TypeError: for bad configuration.
    """

    def __init__(self, filters, kernel_size, strides=1, padding="SAME",
                 dilation_rate=1, data_format="NWC", name=None, **options):
        super().__init__(
            kernels.Conv(1, filters, kernel_size, strides, padding,
                         dilation_rate, data_format, name="ws_conv1d"),
            name=name, **options)


class WeightStandardizedConv2D(_WeightStandardizedLayer):
    """Weight-standardized 2-D convolution object (see `tf1_wn.ws_conv2d`).

    Args:
      filters, kernel_size, strides, padding, dilation_rate, data_format:
        as `tf1_wn.ws_conv2d`.
      name: variable scope name (made unique); default ``ws_conv2d``.
      **options: as `tf1_wn.ws_conv2d`.

    Raises:
      RuntimeError: in eager mode.
      ValueError, TypeError: for bad configuration.
    """

    def __init__(self, filters, kernel_size, strides=1, padding="SAME",
                 dilation_rate=1, data_format="NHWC", name=None, **options):
        super().__init__(
            kernels.Conv(2, filters, kernel_size, strides, padding,
                         dilation_rate, data_format, name="ws_conv2d"),
            name=name, **options)


class WeightStandardizedConv3D(_WeightStandardizedLayer):
    """Weight-standardized 3-D convolution object (see `tf1_wn.ws_conv3d`).

    Args:
      filters, kernel_size, strides, padding, dilation_rate, data_format:
        as `tf1_wn.ws_conv3d`.
      name: variable scope name (made unique); default ``ws_conv3d``.
      **options: as `tf1_wn.ws_conv3d`.

    Raises:
      RuntimeError: in eager mode.
      ValueError, TypeError: for bad configuration.
    """

    def __init__(self, filters, kernel_size, strides=1, padding="SAME",
                 dilation_rate=1, data_format="NDHWC", name=None, **options):
        super().__init__(
            kernels.Conv(3, filters, kernel_size, strides, padding,
                         dilation_rate, data_format, name="ws_conv3d"),
            name=name, **options)


class WeightStandardizedConv2DTranspose(_WeightStandardizedLayer):
    """Weight-standardized transposed convolution object (see
    `tf1_wn.ws_conv2d_transpose`).

    Args:
      filters, kernel_size, strides, padding, data_format: as
        `tf1_wn.ws_conv2d_transpose`.
      name: variable scope name (made unique); default
        ``ws_conv2d_transpose``.
      **options: as `tf1_wn.ws_conv2d_transpose`.

    Raises:
      RuntimeError: in eager mode.
      ValueError, TypeError: for bad configuration.
    """

    def __init__(self, filters, kernel_size, strides=1, padding="SAME",
                 data_format="NHWC", name=None, **options):
        super().__init__(
            kernels.ConvTranspose(filters, kernel_size, strides, padding,
                                  data_format, name="ws_conv2d_transpose"),
            name=name, **options)


class WeightStandardizedDepthwiseConv2D(_WeightStandardizedLayer):
    """Weight-standardized depthwise convolution object (see
    `tf1_wn.ws_depthwise_conv2d`).

    Args:
      kernel_size, depth_multiplier, strides, padding, dilation_rate,
        data_format: as `tf1_wn.ws_depthwise_conv2d`.
      name: variable scope name (made unique); default
        ``ws_depthwise_conv2d``.
      **options: as `tf1_wn.ws_depthwise_conv2d`.

    Raises:
      RuntimeError: in eager mode.
      ValueError, TypeError: for bad configuration.
    """

    def __init__(self, kernel_size, depth_multiplier=1, strides=1,
                 padding="SAME", dilation_rate=1, data_format="NHWC",
                 name=None, **options):
        super().__init__(
            kernels.DepthwiseConv(kernel_size, depth_multiplier, strides,
                                  padding, dilation_rate, data_format,
                                  name="ws_depthwise_conv2d"),
            name=name, **options)
