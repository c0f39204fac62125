"""Weight-standardized convolutions: functional layers and layer objects.

Each layer computes ``activation(op(inputs, w) + bias)`` with
``w = gain * (kernel - mean) / std``, the statistics taken per output channel
over every other kernel axis (`tf1_wn.standardization`).  The functional
layers are decorated with tf_slim's `add_arg_scope`; the objects own one
variable scope and reuse it on every call, like the weight-normalized ones
(`tf1_wn.layers.weight_norm`).

Variables, created with `tf.compat.v1.get_variable` in the layer's scope and
in the input's dtype: ``kernel`` (the plain TF layout), ``gain`` (with
``gain=True``) and ``bias``, both ``[out_channels]``.  The statistics are
computed in float32 for float16/bfloat16 inputs; the output has the input's
dtype.
"""
import collections

from tf_slim.ops.arg_scope import add_arg_scope

from tf1_wn import geometry as geometry_lib
from tf1_wn import kernel_kinds
from tf1_wn import standardization
from tf1_wn import validation
from tf1_wn import variable_names as names
from tf1_wn._tf import tf
from tf1_wn.layers import base
from tf1_wn.layers import recompute
from tf1_wn.layers import slim_conventions
from tf1_wn.docstrings import fill

AUTO_REUSE = tf.AUTO_REUSE

#: The variables of one weight-standardized layer (gain and bias may be
#: None).
WeightStandardizedVariables = collections.namedtuple(
    "WeightStandardizedVariables", ["kernel", "gain", "bias"])


def build_weight_standardized_layer(
        geometry, inputs, *, what, activation=None, use_bias=True,
        gain=False, variant="paper", eps=None, eps_placement=None,
        unbiased=None, ema=None, kernel_initializer=None,
        bias_initializer=None, gain_initializer=None, trainable=True,
        kernel_regularizer=None, bias_regularizer=None,
        variables_collections=None, outputs_collections=None,
        variable_dtype=None, scope=None,
        reuse=AUTO_REUSE):
    """Creates (or reuses) kernel, gain, bias and applies the layer.

    Args:
      geometry: a `tf1_wn.geometry` object.
      inputs: the input tensor.
      what: the public name of the builder, for error messages.
      activation, use_bias, gain, variant, eps, eps_placement, unbiased,
      ema, kernel_initializer, bias_initializer, gain_initializer,
      trainable, kernel_regularizer, bias_regularizer,
      variables_collections, outputs_collections, variable_dtype, scope,
      reuse: as the functional layers (`tf1_wn.ws_conv2d`).

    Returns:
      ``(outputs, WeightStandardizedVariables)``.

    Raises:
      RuntimeError: in eager mode.
      TypeError: non-float inputs, non-callable activation.
      ValueError: wrong rank, unknown channel dimension, bad variant
        arguments.
    """
    inputs, in_channels = base.checked_inputs(geometry, inputs, what,
                                              activation)
    config = kernel_kinds.resolve_ws_variant(
        variant, eps, eps_placement, unbiased)
    slim_conventions.check_options(
        trainable, kernel_regularizer, bias_regularizer,
        variables_collections, outputs_collections)
    variable_dtype = validation.float_dtype_or_none(
        "variable_dtype", variable_dtype) or inputs.dtype.base_dtype
    with base.layer_scope(scope, geometry.default_name, reuse):
        variables = WeightStandardizedVariables(*base.make_variables(
            geometry, in_channels, variable_dtype, [
                base.kernel_spec(names.WS_KERNEL, kernel_initializer,
                                 regularizer=kernel_regularizer),
                base.channel_spec(names.WS_GAIN, gain_initializer,
                                  tf.ones_initializer()) if gain else None,
                base.channel_spec(names.BIAS, bias_initializer,
                                  tf.zeros_initializer(),
                                  regularizer=bias_regularizer) if use_bias
                else None], trainable, variables_collections))
        kernel, gain_var, bias = variables
        if ema is not None:
            kernel, gain_var, bias = (base.averaged(ema, var)
                                      for var in variables)

        def standardize(kernel, gain=None):
            return standardization.standardize_weight(
                kernel, geometry.reduce_axes, gain, config)

        def apply(x, weight):
            return geometry.apply(x, base.compute_cast(weight, x))

        parameters = [kernel] if gain_var is None else [kernel, gain_var]
        if recompute.active():
            outputs = recompute.product(apply, standardize, inputs,
                                        parameters)
        else:
            outputs = apply(inputs, standardize(*parameters))
        outputs = base.bias_add(outputs, base.compute_cast(bias, outputs),
                                geometry.channel_axis == 1)
        if activation is not None:
            outputs = activation(outputs)
        outputs = slim_conventions.collect_outputs(
            outputs_collections, tf.get_variable_scope().name, outputs)
    return outputs, variables


_COMMON_ARGUMENTS = (
    "activation", "use_bias", "gain", "variant", "eps", "eps_placement",
    "unbiased", "ema", "kernel_initializer", "bias_initializer",
    "gain_initializer", "trainable", "kernel_regularizer", "bias_regularizer",
    "variables_collections", "outputs_collections", "variable_dtype",
    "scope", "reuse")


def _common(arguments):
    """The shared keyword arguments out of a layer function's locals()."""
    return {name: arguments[name] for name in _COMMON_ARGUMENTS}


def _conv(n_spatial, inputs, filters, kernel_size, strides, padding,
          dilation_rate, data_format, common):
    geometry = geometry_lib.Conv(n_spatial, filters, kernel_size, strides,
                                 padding, dilation_rate, data_format,
                                 name=f"ws_conv{n_spatial}d")
    return build_weight_standardized_layer(
        geometry, inputs, what=f"tf1_wn.ws_conv{n_spatial}d", **common)[0]


@add_arg_scope
@fill
def ws_conv1d(inputs, filters, kernel_size, strides=1, padding="SAME",
              dilation_rate=1, data_format="NWC", activation=None,
              use_bias=True, gain=False, variant="paper", eps=None,
              eps_placement=None, unbiased=None, ema=None,
              kernel_initializer=None, bias_initializer=None,
              gain_initializer=None,
              trainable=True, kernel_regularizer=None,
              bias_regularizer=None, variables_collections=None,
              outputs_collections=None,
              variable_dtype=None, scope=None, reuse=AUTO_REUSE):
    """Weight-standardized 1-D convolution; kernel ``[k, in, filters]``.

    Args:
      inputs: ``[batch, width, in]`` ('NWC') or ``[batch, in, width]``
        ('NCW').
      filters: number of output channels.
      kernel_size, strides, dilation_rate: int or 1-tuple.
      padding: 'SAME', 'VALID' or explicit ``[before, after]`` pairs.
      data_format: 'NWC' or 'NCW'.
      {weight_std_args}
      {scope_args}

    Returns:
      The output tensor, in `data_format` and the input's dtype.

    {weight_std_raises}
    """
    return _conv(1, inputs, filters, kernel_size, strides, padding,
                 dilation_rate, data_format, _common(locals()))


@add_arg_scope
@fill
def ws_conv2d(inputs, filters, kernel_size, strides=1, padding="SAME",
              dilation_rate=1, data_format="NHWC", activation=None,
              use_bias=True, gain=False, variant="paper", eps=None,
              eps_placement=None, unbiased=None, ema=None,
              kernel_initializer=None, bias_initializer=None,
              gain_initializer=None,
              trainable=True, kernel_regularizer=None,
              bias_regularizer=None, variables_collections=None,
              outputs_collections=None,
              variable_dtype=None, scope=None, reuse=AUTO_REUSE):
    """Weight-standardized 2-D convolution; kernel ``[kh, kw, in, filters]``.

    Args:
      inputs: ``[batch, height, width, in]`` ('NHWC') or
        ``[batch, in, height, width]`` ('NCHW').
      filters: number of output channels.
      kernel_size, strides, dilation_rate: int or 2-tuple.
      padding: 'SAME', 'VALID' or explicit ``[before, after]`` pairs, as
        `tf.nn.conv2d` takes them.
      data_format: 'NHWC' or 'NCHW'.
      {weight_std_args}
      {scope_args}

    Returns:
      The output tensor, in `data_format` and the input's dtype.

    {weight_std_raises}
    """
    return _conv(2, inputs, filters, kernel_size, strides, padding,
                 dilation_rate, data_format, _common(locals()))


@add_arg_scope
@fill
def ws_conv3d(inputs, filters, kernel_size, strides=1, padding="SAME",
              dilation_rate=1, data_format="NDHWC", activation=None,
              use_bias=True, gain=False, variant="paper", eps=None,
              eps_placement=None, unbiased=None, ema=None,
              kernel_initializer=None, bias_initializer=None,
              gain_initializer=None,
              trainable=True, kernel_regularizer=None,
              bias_regularizer=None, variables_collections=None,
              outputs_collections=None,
              variable_dtype=None, scope=None, reuse=AUTO_REUSE):
    """Weight-standardized 3-D convolution; kernel
    ``[kd, kh, kw, in, filters]``.

    Args:
      inputs: 'NDHWC' or 'NCDHW' tensor.
      filters: number of output channels.
      kernel_size, strides, dilation_rate: int or 3-tuple.
      padding: 'SAME', 'VALID' or explicit ``[before, after]`` pairs.
      data_format: 'NDHWC' or 'NCDHW'.
      {weight_std_args}
      {scope_args}

    Returns:
      The output tensor, in `data_format` and the input's dtype.

    {weight_std_raises}
    """
    return _conv(3, inputs, filters, kernel_size, strides, padding,
                 dilation_rate, data_format, _common(locals()))


@add_arg_scope
@fill
def ws_conv2d_transpose(inputs, filters, kernel_size, strides=1,
                        padding="SAME", data_format="NHWC", activation=None,
                        use_bias=True, gain=False, variant="paper", eps=None,
                        eps_placement=None, unbiased=None, ema=None,
                        kernel_initializer=None, bias_initializer=None,
                        gain_initializer=None,
                        trainable=True, kernel_regularizer=None,
                        bias_regularizer=None, variables_collections=None,
                        outputs_collections=None, output_padding=None,
                        variable_dtype=None, scope=None,
                        reuse=AUTO_REUSE):
    """Weight-standardized transposed 2-D convolution.

    The kernel has TF's transposed layout ``[kh, kw, filters, in]``; it is
    standardized per OUTPUT channel (axis 2), over axes 0, 1 and 3.  Output
    size as `tf1_wn.conv2d_transpose`: ``H * s`` for SAME,
    ``H * s + max(k - s, 0)`` for VALID.

    Args:
      inputs: 'NHWC' or 'NCHW' tensor.
      filters: number of output channels.
      kernel_size, strides: int or 2-tuple.
      padding: 'SAME', 'VALID' or explicit ``[before, after]`` pairs.
      data_format: 'NHWC' or 'NCHW'.
      output_padding: None, or an int / 2-tuple (each entry below its
        stride): Keras's output padding, extra rows and columns at the end
        so that any size `tf.nn.conv2d_transpose` allows can be asked for
        (see `tf1_wn.geometry.ConvTranspose`); data init is taken over
        exactly that output.
      {weight_std_args}
      {scope_args}

    Returns:
      The output tensor, in `data_format` and the input's dtype.

    {weight_std_raises}
    """
    geometry = geometry_lib.ConvTranspose(filters, kernel_size, strides,
                                          padding, data_format,
                                          name="ws_conv2d_transpose",
                                          output_padding=output_padding)
    return build_weight_standardized_layer(
        geometry, inputs, what="tf1_wn.ws_conv2d_transpose",
        **_common(locals()))[0]


@add_arg_scope
@fill
def ws_depthwise_conv2d(inputs, kernel_size, depth_multiplier=1, strides=1,
                        padding="SAME", dilation_rate=1, data_format="NHWC",
                        activation=None, use_bias=True, gain=False,
                        variant="paper", eps=None, eps_placement=None,
                        unbiased=None, ema=None, kernel_initializer=None,
                        bias_initializer=None, gain_initializer=None,
                        trainable=True, kernel_regularizer=None,
                        bias_regularizer=None, variables_collections=None,
                        outputs_collections=None,
                        variable_dtype=None, scope=None,
                        reuse=AUTO_REUSE):
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
      {weight_std_args}
      {scope_args}

    Returns:
      The output tensor, in `data_format` and the input's dtype.

    {weight_std_raises}
    """
    geometry = geometry_lib.DepthwiseConv(kernel_size, depth_multiplier,
                                          strides, padding, dilation_rate,
                                          data_format,
                                          name="ws_depthwise_conv2d")
    return build_weight_standardized_layer(
        geometry, inputs, what="tf1_wn.ws_depthwise_conv2d",
        **_common(locals()))[0]


class _WeightStandardizedLayer(base.LayerObject):
    """Base of the weight-standardized layer objects."""

    _build = staticmethod(build_weight_standardized_layer)

    def __init__(self, geometry, activation=None, use_bias=True, gain=False,
                 variant="paper", eps=None, eps_placement=None,
                 unbiased=None, ema=None, kernel_initializer=None,
                 bias_initializer=None, gain_initializer=None,
                 trainable=True, kernel_regularizer=None,
                 bias_regularizer=None, variables_collections=None,
                 outputs_collections=None, variable_dtype=None,
                 name=None):
        config = kernel_kinds.resolve_ws_variant(
            variant, eps, eps_placement, unbiased)
        super().__init__(geometry, dict(
            activation=activation, use_bias=use_bias, gain=gain,
            variant=None, eps=config.eps,
            eps_placement=config.eps_placement, unbiased=config.unbiased,
            ema=ema, kernel_initializer=kernel_initializer,
            bias_initializer=bias_initializer,
            gain_initializer=gain_initializer,
            variable_dtype=validation.float_dtype_or_none(
                "variable_dtype", variable_dtype),
            **slim_conventions.check_options(
                trainable, kernel_regularizer, bias_regularizer,
                variables_collections, outputs_collections)), name=name)

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


@fill
class WeightStandardizedConv1D(_WeightStandardizedLayer):
    """Weight-standardized 1-D convolution object (see `tf1_wn.ws_conv1d`).

    Args:
      filters: number of output channels.
      kernel_size, strides, dilation_rate: int or 1-tuple.
      padding: 'SAME', 'VALID' or explicit ``[before, after]`` pairs.
      data_format: 'NWC' or 'NCW'.
      {weight_std_args}
      {name_arg}

    Raises:
      RuntimeError: in eager mode.
      TypeError: a non-callable activation.
      ValueError: a bad argument value.
    """

    def __init__(self, filters, kernel_size, strides=1, padding="SAME",
                 dilation_rate=1, data_format="NWC", name=None, **options):
        super().__init__(
            geometry_lib.Conv(1, filters, kernel_size, strides, padding,
                              dilation_rate, data_format, name="ws_conv1d"),
            name=name, **options)


@fill
class WeightStandardizedConv2D(_WeightStandardizedLayer):
    """Weight-standardized 2-D convolution object (see `tf1_wn.ws_conv2d`).

    Args:
      filters: number of output channels.
      kernel_size, strides, dilation_rate: int or 2-tuple.
      padding: 'SAME', 'VALID' or explicit ``[before, after]`` pairs.
      data_format: 'NHWC' or 'NCHW'.
      {weight_std_args}
      {name_arg}

    Raises:
      RuntimeError: in eager mode.
      TypeError: a non-callable activation.
      ValueError: a bad argument value.
    """

    def __init__(self, filters, kernel_size, strides=1, padding="SAME",
                 dilation_rate=1, data_format="NHWC", name=None, **options):
        super().__init__(
            geometry_lib.Conv(2, filters, kernel_size, strides, padding,
                              dilation_rate, data_format, name="ws_conv2d"),
            name=name, **options)


@fill
class WeightStandardizedConv3D(_WeightStandardizedLayer):
    """Weight-standardized 3-D convolution object (see `tf1_wn.ws_conv3d`).

    Args:
      filters: number of output channels.
      kernel_size, strides, dilation_rate: int or 3-tuple.
      padding: 'SAME', 'VALID' or explicit ``[before, after]`` pairs.
      data_format: 'NDHWC' or 'NCDHW'.
      {weight_std_args}
      {name_arg}

    Raises:
      RuntimeError: in eager mode.
      TypeError: a non-callable activation.
      ValueError: a bad argument value.
    """

    def __init__(self, filters, kernel_size, strides=1, padding="SAME",
                 dilation_rate=1, data_format="NDHWC", name=None, **options):
        super().__init__(
            geometry_lib.Conv(3, filters, kernel_size, strides, padding,
                              dilation_rate, data_format, name="ws_conv3d"),
            name=name, **options)


@fill
class WeightStandardizedConv2DTranspose(_WeightStandardizedLayer):
    """Weight-standardized transposed convolution object (see
    `tf1_wn.ws_conv2d_transpose`).

    Args:
      filters: number of output channels.
      kernel_size, strides: int or 2-tuple.
      padding: 'SAME', 'VALID' or explicit ``[before, after]`` pairs.
      data_format: 'NHWC' or 'NCHW'.
      output_padding: as `tf1_wn.conv2d_transpose`.
      {weight_std_args}
      {name_arg}

    Raises:
      RuntimeError: in eager mode.
      TypeError: a non-callable activation.
      ValueError: a bad argument value.
    """

    def __init__(self, filters, kernel_size, strides=1, padding="SAME",
                 data_format="NHWC", name=None, output_padding=None,
                 **options):
        super().__init__(
            geometry_lib.ConvTranspose(filters, kernel_size, strides,
                                       padding, data_format,
                                       name="ws_conv2d_transpose",
                                       output_padding=output_padding),
            name=name, **options)


@fill
class WeightStandardizedDepthwiseConv2D(_WeightStandardizedLayer):
    """Weight-standardized depthwise convolution object (see
    `tf1_wn.ws_depthwise_conv2d`).

    Args:
      kernel_size, dilation_rate: int or 2-tuple.
      depth_multiplier: output channels per input channel.
      strides: int or 2-tuple with equal entries.
      padding: 'SAME', 'VALID' or explicit ``[before, after]`` pairs.
      data_format: 'NHWC' or 'NCHW'.
      {weight_std_args}
      {name_arg}

    Raises:
      RuntimeError: in eager mode.
      TypeError: a non-callable activation.
      ValueError: a bad argument value.
    """

    def __init__(self, kernel_size, depth_multiplier=1, strides=1,
                 padding="SAME", dilation_rate=1, data_format="NHWC",
                 name=None, **options):
        super().__init__(
            geometry_lib.DepthwiseConv(kernel_size, depth_multiplier,
                                       strides, padding, dilation_rate,
                                       data_format,
                                       name="ws_depthwise_conv2d"),
            name=name, **options)
