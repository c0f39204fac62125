"""Weight-normalized layers: the builder, the functional layers, the objects.

Each layer computes ``activation(op(inputs, w) + bias)`` with
``w = g * v / sqrt(sum(v**2) + eps)``, one g per output channel; the math is
in `tf1_wn.normalization`, the shapes and ops in `tf1_wn.geometry`.

The functional layers are decorated with tf_slim's `add_arg_scope`, so
``tf_slim.arg_scope([tf1_wn.conv2d, tf1_wn.dense], init=True)`` configures
a whole model.  The objects (`WeightNormDense`, ...) validate their
configuration in the constructor, claim one variable scope and reuse it on
every call, in the Sonnet v1 manner.

Variables, created with `tf.compat.v1.get_variable` in the layer's scope
and in the input's dtype: ``v`` (the plain TF kernel layout), ``g`` and
``bias`` (``[out_channels]``).
"""
import collections

from tf_slim.ops.arg_scope import add_arg_scope

from tf1_wn.data_init import pooling
from tf1_wn import geometry as geometry_lib
from tf1_wn import normalization
from tf1_wn import validation
from tf1_wn import variable_names as names
from tf1_wn._tf import tf
from tf1_wn.layers import base
from tf1_wn.layers import recompute
from tf1_wn.layers import slim_conventions
from tf1_wn.docstrings import fill
from tf1_wn.normalization import DEFAULT_EPS

AUTO_REUSE = tf.AUTO_REUSE

#: The variables of one weight-normalized layer (bias is None without one).
WeightNormVariables = collections.namedtuple(
    "WeightNormVariables", ["v", "g", "bias"])


def build_weight_norm_layer(geometry, inputs, *, what, activation=None,
                            use_bias=True, init=False, init_scale=1.0,
                            trainable_g=True, ema=None, eps=DEFAULT_EPS,
                            kernel_initializer=None, bias_initializer=None,
                            g_initializer=None, trainable=True,
                            kernel_regularizer=None, bias_regularizer=None,
                            variables_collections=None,
                            outputs_collections=None,
                            variable_dtype=None, scope=None,
                            reuse=AUTO_REUSE, variable_names=None):
    """Creates (or reuses) v, g, bias and applies the layer.

    Args:
      geometry: a `tf1_wn.geometry` object.
      inputs: the input tensor.
      what: the public name of the builder, for error messages.
      activation, use_bias, init, init_scale, trainable_g, ema, eps,
      kernel_initializer, bias_initializer, g_initializer, trainable,
      kernel_regularizer, bias_regularizer, variables_collections,
      outputs_collections, variable_dtype, scope, reuse: as the functional
        layers (`tf1_wn.dense`).
      variable_names: ``(direction, gain, bias)`` names instead of
        ``('v', 'g', 'bias')`` (ports whose checkpoints name them
        otherwise, e.g. pixel-cnn's ``('V', 'g', 'b')``).

    Returns:
      ``(outputs, WeightNormVariables)``.

    Raises:
      RuntimeError: in eager mode.
      TypeError: non-float inputs, non-callable activation.
      ValueError: wrong rank, unknown channel dimension, bad numbers,
        ``init=True`` together with `ema`.
    """
    inputs, in_channels = base.checked_inputs(geometry, inputs, what,
                                              activation)
    init_scale = validation.positive_number("init_scale", init_scale)
    eps = validation.non_negative_number("eps", eps)
    slim_conventions.check_options(
        trainable, kernel_regularizer, bias_regularizer,
        variables_collections, outputs_collections)
    variable_dtype = validation.float_dtype_or_none(
        "variable_dtype", variable_dtype) or inputs.dtype.base_dtype
    if init and ema is not None:
        raise ValueError(
            "`init=True` cannot be combined with `ema`: data init sets the "
            "raw variables; build the averaged model separately and run "
            "tf1_wn.sync_ema after init.")
    direction, gain, bias_name = variable_names or (
        names.DIRECTION, names.GAIN, names.BIAS)
    with base.layer_scope(scope, geometry.default_name, reuse):
        variables = WeightNormVariables(*base.make_variables(
            geometry, in_channels, variable_dtype, [
                base.kernel_spec(direction, kernel_initializer),
                base.channel_spec(gain, g_initializer,
                                  tf.ones_initializer(),
                                  trainable=trainable_g),
                base.channel_spec(bias_name, bias_initializer,
                                  tf.zeros_initializer(),
                                  regularizer=bias_regularizer) if use_bias
                else None], trainable, variables_collections))
        # slim's weights_regularizer on the weight the layer computes with.
        slim_conventions.add_weight_regularization(
            kernel_regularizer, variables.v,
            lambda: normalization.normalize_weight(
                variables.v, variables.g, geometry.reduce_axes, eps))
        if init:
            outputs = _data_init_forward(geometry, inputs, variables,
                                         init_scale, eps)
        else:
            v, g, bias = variables
            if ema is not None:
                v, g, bias = (base.averaged(ema, var) for var in variables)
            outputs = _normalized_forward(geometry, inputs, v, g, bias, eps)
        if activation is not None:
            outputs = activation(outputs)
        outputs = slim_conventions.collect_outputs(
            outputs_collections, tf.get_variable_scope().name, outputs)
    return outputs, variables


def _normalized_forward(geometry, inputs, v, g, bias, eps):
    """``op(inputs, g * v / ||v||) + bias``, scaling the cheaper of kernel
    and output (the op is linear, so both give the same values).  Variables
    of another dtype than `inputs` (float32 master weights) are normalized
    in theirs and the kernel cast."""
    if (v.dtype.base_dtype == inputs.dtype.base_dtype
            and v.dtype.base_dtype in (tf.float32, tf.float64)
            and geometry.prefers_output_scaling(inputs)):
        if inputs.shape.ndims == 2:
            return normalization.scaled_matmul(
                inputs, v, g, base.compute_cast(bias, inputs), eps)
        scale = normalization.channel_scale(v, g, geometry.reduce_axes, eps)
        outputs = geometry.apply(inputs, v) * tf.reshape(scale, [-1])
    else:
        def normalize(v, g):
            return normalization.normalize_weight(v, g, geometry.reduce_axes,
                                                  eps)

        def apply(x, kernel):
            return geometry.apply(x, base.compute_cast(kernel, x))

        if recompute.active():
            outputs = recompute.product(apply, normalize, inputs, [v, g])
        else:
            outputs = apply(inputs, normalize(v, g))
    return base.bias_add(outputs, base.compute_cast(bias, outputs),
                         geometry.channel_axis == 1)


def _data_init_forward(geometry, inputs, variables, init_scale, eps):
    """Init-mode output; adds the assign ops for g and bias to INIT_OPS.

    The output depends on the assigns, so running it (as pixel-cnn's
    ``init_pass`` is run) also performs the init.  Inside
    `tf1_wn.build_towers` or a replicated init the statistics are pooled
    (`tf1_wn.data_init.pooling`).
    """
    unit_kernel = normalization.normalize_weight(
        variables.v, None, geometry.reduce_axes, eps)
    t = geometry.apply(inputs, base.compute_cast(unit_kernel, inputs))
    key = variables.g.op.name
    g_value, bias_value, initialized = normalization.data_init_statistics(
        t, geometry.channel_axis, init_scale,
        center=variables.bias is not None,
        layer=tf.get_variable_scope().name,
        pool=pooling.moments_pool(key, variables.g))
    pairs = [(variables.g, g_value)]
    if variables.bias is not None:
        pairs.append((variables.bias, bias_value))
    with tf.control_dependencies([pooling.assign_once(key, pairs)]):
        return tf.identity(initialized)


_COMMON_ARGUMENTS = (
    "activation", "use_bias", "init", "init_scale", "trainable_g", "ema",
    "eps", "kernel_initializer", "bias_initializer", "g_initializer",
    "trainable", "kernel_regularizer", "bias_regularizer",
    "variables_collections", "outputs_collections", "variable_dtype",
    "scope", "reuse")


def _build(geometry, what, arguments):
    """Builds the layer from a layer function's ``locals()``; the output."""
    common = {name: arguments[name] for name in _COMMON_ARGUMENTS}
    return build_weight_norm_layer(geometry, arguments["inputs"], what=what,
                                   **common)[0]


# -- functional layers ----------------------------------------------------

@add_arg_scope
@fill
def dense(inputs, units, activation=None, use_bias=True, init=False,
          init_scale=1.0, trainable_g=True, ema=None, eps=DEFAULT_EPS,
          kernel_initializer=None, bias_initializer=None, g_initializer=None,
          trainable=True, kernel_regularizer=None, bias_regularizer=None,
          variables_collections=None, outputs_collections=None,
          variable_dtype=None, scope=None, reuse=AUTO_REUSE):
    """Weight-normalized fully connected layer over the last axis.

    v is ``[in, units]``, normalized over axis 0.

    Args:
      inputs: float tensor ``[batch, ..., in]`` with a known last dimension.
      units: number of output units.
      {init_arg}
      {weight_norm_args}
      {scope_args}

    Returns:
      Tensor ``[batch, ..., units]`` in the input's dtype.

    {weight_norm_raises}
    """
    return _build(geometry_lib.Dense(units, name="dense"), "tf1_wn.dense",
                  locals())


@add_arg_scope
@fill
def nin(inputs, units, activation=None, use_bias=True, init=False,
        init_scale=1.0, trainable_g=True, ema=None, eps=DEFAULT_EPS,
        kernel_initializer=None, bias_initializer=None, g_initializer=None,
        trainable=True, kernel_regularizer=None, bias_regularizer=None,
        variables_collections=None, outputs_collections=None,
        variable_dtype=None, scope=None, reuse=AUTO_REUSE):
    """Network-in-network layer: a 1x1 dense over the last axis.

    Same computation as `dense`, for channels-last feature maps of any rank
    (statistics over every axis but the last); the default scope is ``nin``.

    Args:
      inputs: float tensor ``[batch, ..., channels]``.
      units: number of output channels.
      {init_arg}
      {weight_norm_args}
      {scope_args}

    Returns:
      Tensor ``[batch, ..., units]`` in the input's dtype.

    {weight_norm_raises}
    """
    return _build(geometry_lib.Dense(units, name="nin"), "tf1_wn.nin",
                  locals())


def _conv_geometry(n_spatial, arguments):
    return geometry_lib.Conv(
        n_spatial, arguments["filters"], arguments["kernel_size"],
        arguments["strides"], arguments["padding"],
        arguments["dilation_rate"], arguments["data_format"])


@add_arg_scope
@fill
def conv1d(inputs, filters, kernel_size, strides=1, padding="SAME",
           dilation_rate=1, data_format="NWC", activation=None, use_bias=True,
           init=False, init_scale=1.0, trainable_g=True, ema=None,
           eps=DEFAULT_EPS, kernel_initializer=None, bias_initializer=None,
           g_initializer=None,
           trainable=True, kernel_regularizer=None,
           bias_regularizer=None, variables_collections=None,
           outputs_collections=None,
           variable_dtype=None, scope=None, reuse=AUTO_REUSE):
    """Weight-normalized 1-D convolution; v is ``[k, in, filters]``.

    Args:
      inputs: ``[batch, width, in]`` ('NWC') or ``[batch, in, width]``
        ('NCW').
      filters: number of output channels.
      kernel_size: int or 1-tuple.
      strides: int or 1-tuple.
      padding: 'SAME', 'VALID' or explicit ``[before, after]`` pairs.
      dilation_rate: int or 1-tuple; > 1 only with stride 1.
      data_format: 'NWC' or 'NCW'.
      {init_arg}
      {weight_norm_args}
      {scope_args}

    Returns:
      The output tensor, in `data_format` and the input's dtype.

    {weight_norm_raises}
    """
    return _build(_conv_geometry(1, locals()), "tf1_wn.conv1d", locals())


@add_arg_scope
@fill
def conv2d(inputs, filters, kernel_size, strides=1, padding="SAME",
           dilation_rate=1, data_format="NHWC", activation=None,
           use_bias=True, init=False, init_scale=1.0, trainable_g=True,
           ema=None, eps=DEFAULT_EPS, kernel_initializer=None,
           bias_initializer=None, g_initializer=None,
           trainable=True, kernel_regularizer=None,
           bias_regularizer=None, variables_collections=None,
           outputs_collections=None, variable_dtype=None, scope=None,
           reuse=AUTO_REUSE):
    """Weight-normalized 2-D convolution; v is ``[kh, kw, in, filters]``.

    Args:
      inputs: ``[batch, height, width, in]`` ('NHWC') or
        ``[batch, in, height, width]`` ('NCHW').
      filters: number of output channels.
      kernel_size: int or 2-tuple.
      strides: int or 2-tuple.
      padding: 'SAME', 'VALID' or explicit ``[before, after]`` pairs, as
        `tf.nn.conv2d` takes them.
      dilation_rate: int or 2-tuple; > 1 only with stride 1.
      data_format: 'NHWC' or 'NCHW'.
      {init_arg}
      {weight_norm_args}
      {scope_args}

    Returns:
      The output tensor, in `data_format` and the input's dtype.

    {weight_norm_raises}
    """
    return _build(_conv_geometry(2, locals()), "tf1_wn.conv2d", locals())


@add_arg_scope
@fill
def conv3d(inputs, filters, kernel_size, strides=1, padding="SAME",
           dilation_rate=1, data_format="NDHWC", activation=None,
           use_bias=True, init=False, init_scale=1.0, trainable_g=True,
           ema=None, eps=DEFAULT_EPS, kernel_initializer=None,
           bias_initializer=None, g_initializer=None,
           trainable=True, kernel_regularizer=None,
           bias_regularizer=None, variables_collections=None,
           outputs_collections=None, variable_dtype=None, scope=None,
           reuse=AUTO_REUSE):
    """Weight-normalized 3-D convolution; v is ``[kd, kh, kw, in, filters]``.

    Args:
      inputs: 'NDHWC' or 'NCDHW' tensor.
      filters: number of output channels.
      kernel_size: int or 3-tuple.
      strides: int or 3-tuple.
      padding: 'SAME', 'VALID' or explicit ``[before, after]`` pairs.
      dilation_rate: int or 3-tuple; > 1 only with stride 1.
      data_format: 'NDHWC' or 'NCDHW'.
      {init_arg}
      {weight_norm_args}
      {scope_args}

    Returns:
      The output tensor, in `data_format` and the input's dtype.

    {weight_norm_raises}
    """
    return _build(_conv_geometry(3, locals()), "tf1_wn.conv3d", locals())


@add_arg_scope
@fill
def conv2d_transpose(inputs, filters, kernel_size, strides=1, padding="SAME",
                     data_format="NHWC", activation=None, use_bias=True,
                     init=False, init_scale=1.0, trainable_g=True, ema=None,
                     eps=DEFAULT_EPS, kernel_initializer=None,
                     bias_initializer=None, g_initializer=None,
                     trainable=True, kernel_regularizer=None,
                     bias_regularizer=None, variables_collections=None,
                     outputs_collections=None, output_padding=None,
                     variable_dtype=None, scope=None,
                     reuse=AUTO_REUSE):
    """Weight-normalized transposed 2-D convolution.

    v has TF's transposed layout ``[kh, kw, filters, in]``; its norm is
    taken per OUTPUT channel (axes 0, 1, 3), unlike TF Addons' wrapper.
    Output size, as Keras and tf-slim: ``H * s`` for SAME,
    ``H * s + max(k - s, 0)`` for VALID, ``(H - 1) * s + k - before -
    after`` for explicit padding.

    Args:
      inputs: 'NHWC' or 'NCHW' tensor.
      filters: number of output channels.
      kernel_size: int or 2-tuple.
      strides: int or 2-tuple.
      padding: 'SAME', 'VALID' or explicit ``[before, after]`` pairs.
      data_format: 'NHWC' or 'NCHW'.
      output_padding: None, or an int / 2-tuple (each entry below its
        stride): Keras's output padding, extra rows and columns at the end
        so that any size `tf.nn.conv2d_transpose` allows can be asked for
        (see `tf1_wn.geometry.ConvTranspose`); data init is taken over
        exactly that output.
      {init_arg}
      {weight_norm_args}
      {scope_args}

    Returns:
      The output tensor, in `data_format` and the input's dtype.

    {weight_norm_raises}
    """
    geometry = geometry_lib.ConvTranspose(filters, kernel_size, strides,
                                          padding, data_format,
                                          output_padding=output_padding)
    return _build(geometry, "tf1_wn.conv2d_transpose", locals())


@add_arg_scope
@fill
def depthwise_conv2d(inputs, kernel_size, depth_multiplier=1, strides=1,
                     padding="SAME", dilation_rate=1, data_format="NHWC",
                     activation=None, use_bias=True, init=False,
                     init_scale=1.0, trainable_g=True, ema=None,
                     eps=DEFAULT_EPS, kernel_initializer=None,
                     bias_initializer=None, g_initializer=None,
                     trainable=True, kernel_regularizer=None,
                     bias_regularizer=None, variables_collections=None,
                     outputs_collections=None, variable_dtype=None, scope=None,
                     reuse=AUTO_REUSE):
    """Weight-normalized depthwise 2-D convolution.

    v is ``[kh, kw, in, depth_multiplier]``, normalized over the spatial
    axes for each (input channel, multiplier) pair; g and bias have
    ``in * depth_multiplier`` entries (output channel ``i * mult + m``).

    Args:
      inputs: 'NHWC' or 'NCHW' tensor.
      kernel_size: int or 2-tuple.
      depth_multiplier: output channels per input channel.
      strides: int or 2-tuple with equal entries.
      padding: 'SAME', 'VALID' or explicit ``[before, after]`` pairs.
      dilation_rate: int or 2-tuple; > 1 only with stride 1.
      data_format: 'NHWC' or 'NCHW'.
      {init_arg}
      {weight_norm_args}
      {scope_args}

    Returns:
      The output tensor, in `data_format` and the input's dtype.

    {weight_norm_raises}
    """
    geometry = geometry_lib.DepthwiseConv(kernel_size, depth_multiplier,
                                          strides, padding, dilation_rate,
                                          data_format)
    return _build(geometry, "tf1_wn.depthwise_conv2d", locals())


# -- layer objects --------------------------------------------------------

class _WeightNormLayer(base.LayerObject):
    """Base of the weight-normalized layer objects."""

    _build = staticmethod(build_weight_norm_layer)

    def __init__(self, geometry, activation=None, use_bias=True,
                 init_scale=1.0, trainable_g=True, ema=None, eps=DEFAULT_EPS,
                 kernel_initializer=None, bias_initializer=None,
                 g_initializer=None, trainable=True, kernel_regularizer=None,
                 bias_regularizer=None, variables_collections=None,
                 outputs_collections=None, variable_dtype=None,
                 name=None):
        super().__init__(geometry, dict(
            activation=activation, use_bias=use_bias,
            init_scale=validation.positive_number("init_scale", init_scale),
            trainable_g=trainable_g, ema=ema,
            eps=validation.non_negative_number("eps", eps),
            kernel_initializer=kernel_initializer,
            bias_initializer=bias_initializer, g_initializer=g_initializer,
            variable_dtype=validation.float_dtype_or_none(
                "variable_dtype", variable_dtype),
            **slim_conventions.check_options(
                trainable, kernel_regularizer, bias_regularizer,
                variables_collections, outputs_collections)),
            name=name)

    def __call__(self, inputs, init=False):
        """Applies the layer; the first call creates the variables.

        Args:
          inputs: float tensor, as the matching functional layer takes.
          init: data-dependent init mode (see `tf1_wn.dense`): the output
            is normalized on this batch and the assigns of g and bias are
            added to `tf1_wn.INIT_OPS`.

        Returns:
          The output tensor.

        Raises:
          RuntimeError: in eager mode.
          TypeError: non-float inputs.
          ValueError: a wrong input rank or an unknown channel dimension.
        """
        return self._call(inputs, init=init)

    @property
    def v(self):
        """The direction variable (plain kernel layout)."""
        return self._connected().v

    @property
    def g(self):
        """The per-output-channel gain variable."""
        return self._connected().g


@fill
class WeightNormDense(_WeightNormLayer):
    """Weight-normalized dense layer object (see `tf1_wn.dense`).

    Args:
      units: number of output units.
      {weight_norm_args}
      {name_arg}

    Raises:
      RuntimeError: in eager mode.
      TypeError: a non-callable activation.
      ValueError: a bad argument value.
    """

    def __init__(self, units, name=None, **options):
        super().__init__(geometry_lib.Dense(units), name=name, **options)


@fill
class WeightNormConv1D(_WeightNormLayer):
    """Weight-normalized 1-D convolution object (see `tf1_wn.conv1d`).

    Args:
      filters: number of output channels.
      kernel_size, strides, dilation_rate: int or 1-tuple.
      padding: 'SAME', 'VALID' or explicit ``[before, after]`` pairs.
      data_format: 'NWC' or 'NCW'.
      {weight_norm_args}
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
                              dilation_rate, data_format),
            name=name, **options)


@fill
class WeightNormConv2D(_WeightNormLayer):
    """Weight-normalized 2-D convolution object (see `tf1_wn.conv2d`).

    Args:
      filters: number of output channels.
      kernel_size, strides, dilation_rate: int or 2-tuple.
      padding: 'SAME', 'VALID' or explicit ``[before, after]`` pairs.
      data_format: 'NHWC' or 'NCHW'.
      {weight_norm_args}
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
                              dilation_rate, data_format),
            name=name, **options)


@fill
class WeightNormConv3D(_WeightNormLayer):
    """Weight-normalized 3-D convolution object (see `tf1_wn.conv3d`).

    Args:
      filters: number of output channels.
      kernel_size, strides, dilation_rate: int or 3-tuple.
      padding: 'SAME', 'VALID' or explicit ``[before, after]`` pairs.
      data_format: 'NDHWC' or 'NCDHW'.
      {weight_norm_args}
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
                              dilation_rate, data_format),
            name=name, **options)


@fill
class WeightNormConv2DTranspose(_WeightNormLayer):
    """Weight-normalized transposed convolution object (see
    `tf1_wn.conv2d_transpose`).

    Args:
      filters: number of output channels.
      kernel_size, strides: int or 2-tuple.
      padding: 'SAME', 'VALID' or explicit ``[before, after]`` pairs.
      data_format: 'NHWC' or 'NCHW'.
      output_padding: as `tf1_wn.conv2d_transpose`.
      {weight_norm_args}
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
                                       output_padding=output_padding),
            name=name, **options)


@fill
class WeightNormDepthwiseConv2D(_WeightNormLayer):
    """Weight-normalized depthwise convolution object (see
    `tf1_wn.depthwise_conv2d`).

    Args:
      kernel_size, dilation_rate: int or 2-tuple.
      depth_multiplier: output channels per input channel.
      strides: int or 2-tuple with equal entries.
      padding: 'SAME', 'VALID' or explicit ``[before, after]`` pairs.
      data_format: 'NHWC' or 'NCHW'.
      {weight_norm_args}
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
                                       data_format),
            name=name, **options)
