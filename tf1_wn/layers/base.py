"""Builds one weight-normalized layer from a kernel geometry.

The functional layers (`tf1_wn.layers`) and the layer objects
(`tf1_wn.modules`) are thin over `build_weight_norm_layer`; the math is in
`tf1_wn.normalization`, the shapes and ops in `tf1_wn.kernels`.
"""
import collections

from tf1_wn import data_init
from tf1_wn import normalization
from tf1_wn import validation
from tf1_wn._tf import tf

#: The variables of one weight-normalized layer (bias is None without one).
WeightNormVariables = collections.namedtuple(
    "WeightNormVariables", ["v", "g", "bias"])

DEFAULT_KERNEL_INITIALIZER_STDDEV = 0.05


def layer_scope(scope, default_name, reuse):
    """The variable scope of one layer call.

    With ``scope=None`` every call opens a fresh, uniquely named scope
    (``dense``, ``dense_1``, ...): `reuse` cannot apply to a name nobody
    chose.  With a scope, `reuse` (default AUTO_REUSE) shares the variables
    of every call with that scope.
    """
    if scope is None:
        return tf.variable_scope(None, default_name=default_name)
    return tf.variable_scope(scope, reuse=reuse)


def check_activation(activation):
    if activation is not None and not callable(activation):
        raise TypeError(
            f"`activation` must be a callable such as tf.nn.relu or None, got "
            f"{activation!r}.")


def averaged(ema, variable):
    """The EMA shadow of `variable`, or `variable` if it is not trained.

    A non-trainable variable (g with ``trainable_g=False``) only changes in
    data init, after which `sync_ema` makes its shadow equal to it; when it
    was left out of ``ema.apply`` the variable itself is that value.

    Raises:
      ValueError: if a trainable variable has no average.
    """
    shadow = ema.average(variable)
    if shadow is not None:
        return shadow
    if any(variable is trained for trained in tf.trainable_variables()):
        raise ValueError(
            f"`ema` has no average for {variable.name}: call "
            "ema.apply(var_list) with this layer's variables before building "
            "the averaged model.")
    return variable


def bias_add(outputs, bias, channels_first):
    return tf.nn.bias_add(
        outputs, bias, data_format="NC..." if channels_first else "N...C")


def checked_inputs(geometry, inputs, what, activation):
    """The checks every layer builder starts with.

    Returns:
      ``(inputs_tensor, in_channels)``.

    Raises:
      RuntimeError: in eager mode.
      TypeError: non-float inputs, non-callable activation.
      ValueError: wrong rank, unknown channel dimension.
    """
    validation.assert_graph_mode(what)
    inputs = validation.check_float_tensor("inputs", inputs)
    in_channels = geometry.check_inputs(inputs)
    check_activation(activation)
    return inputs, in_channels


def build_weight_norm_layer(geometry, inputs, *, what, activation=None,
                            use_bias=True, init=False, init_scale=1.0,
                            trainable_g=True, ema=None,
                            eps=normalization.DEFAULT_EPS,
                            kernel_initializer=None, bias_initializer=None,
                            g_initializer=None, scope=None,
                            reuse=tf.AUTO_REUSE):
    """Creates (or reuses) v, g, bias and applies the layer.

    Args:
      geometry: a `tf1_wn.kernels` object.
      inputs: the input tensor.
      what: the public name of the builder, for error messages.
      Other arguments: as documented on the functional layers.

    Returns:
      ``(outputs, WeightNormVariables)``.

    Raises:
      RuntimeError: in eager mode.
      TypeError: non-float inputs, non-callable activation.
      ValueError: wrong rank, unknown channel dimension, bad numbers,
        ``init=True`` together with `ema`.
    """
    inputs, in_channels = checked_inputs(geometry, inputs, what, activation)
    init_scale = validation.positive_number("init_scale", init_scale)
    eps = validation.non_negative_number("eps", eps)
    if init and ema is not None:
        raise ValueError(
            "`init=True` cannot be combined with `ema`: data init sets the "
            "raw variables; build the averaged model separately and run "
            "tf1_wn.sync_ema after init.")
    dtype = inputs.dtype.base_dtype
    out_channels = geometry.out_channels(in_channels)
    channels_first = geometry.channel_axis == 1

    with layer_scope(scope, geometry.default_name, reuse):
        v = tf.get_variable(
            "v", geometry.kernel_shape(in_channels), dtype,
            initializer=kernel_initializer or tf.random_normal_initializer(
                0.0, DEFAULT_KERNEL_INITIALIZER_STDDEV))
        g = tf.get_variable(
            "g", [out_channels], dtype,
            initializer=g_initializer or tf.ones_initializer(),
            trainable=trainable_g)
        bias = None
        if use_bias:
            bias = tf.get_variable(
                "bias", [out_channels], dtype,
                initializer=bias_initializer or tf.zeros_initializer())
        variables = WeightNormVariables(v, g, bias)

        if init:
            outputs = _data_init_forward(geometry, inputs, variables,
                                         init_scale, eps)
        else:
            if ema is not None:
                v, g = averaged(ema, v), averaged(ema, g)
                bias = bias if bias is None else averaged(ema, bias)
            outputs = _normalized_forward(geometry, inputs, v, g, eps)
            if bias is not None:
                outputs = bias_add(outputs, bias, channels_first)
        if activation is not None:
            outputs = activation(outputs)
    return outputs, variables


def _normalized_forward(geometry, inputs, v, g, eps):
    """``op(inputs, g * v / ||v||)``, scaling the cheaper of kernel and
    output (the op is linear, so both give the same values)."""
    if (v.dtype.base_dtype in (tf.float32, tf.float64)
            and geometry.prefers_output_scaling(inputs)):
        scale = normalization.channel_scale(v, g, geometry.reduce_axes, eps)
        return geometry.apply(inputs, v) * tf.reshape(scale, [-1])
    kernel = normalization.normalize_weight(v, g, geometry.reduce_axes, eps)
    return geometry.apply(inputs, kernel)


def _data_init_forward(geometry, inputs, variables, init_scale, eps):
    """Init-mode output; adds the assign ops for g and bias to INIT_OPS."""
    unit_kernel = normalization.normalize_weight(
        variables.v, None, geometry.reduce_axes, eps)
    t = geometry.apply(inputs, unit_kernel)
    g_value, bias_value, initialized = normalization.data_init_statistics(
        t, geometry.channel_axis, init_scale,
        center=variables.bias is not None)
    assigns = [tf.assign(variables.g, tf.cast(g_value, variables.g.dtype))]
    if variables.bias is not None:
        assigns.append(tf.assign(
            variables.bias, tf.cast(bias_value, variables.bias.dtype)))
    data_init.add_init_op(tf.group(*assigns, name="data_init"))
    return initialized
