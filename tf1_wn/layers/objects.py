"""Weight-normalized layers as objects, in the Sonnet v1 manner.

The constructor validates the configuration and claims one variable scope;
every call ``layer(x, init=False)`` builds the graph in that scope and reuses
its variables, so one object applied to two inputs shares v, g and bias.
"""
from tf1_wn import builder
from tf1_wn import kernels
from tf1_wn import normalization
from tf1_wn import validation
from tf1_wn._tf import tf


class LayerObject:
    """Base of the layer objects: one geometry, one scope, its variables.

    Subclasses set `_build` (a ``build_*_layer`` function returning
    ``(outputs, variables_namedtuple)``) and pass the validated keyword
    options it takes.
    """

    _build = None

    def __init__(self, geometry, options, name=None):
        validation.assert_graph_mode(f"tf1_wn.{type(self).__name__}")
        builder.check_activation(options.get("activation"))
        self._geometry = geometry
        self._options = options
        # Sonnet's rule: a second object named "block" gets "block_1" rather
        # than silently sharing the first one's variables.
        with tf.variable_scope(
                None, default_name=name or geometry.default_name) as vs:
            self._scope = vs
        self._variables = None

    @property
    def scope_name(self):
        """The name of the variable scope this layer's variables live in."""
        return self._scope.name

    def _call(self, inputs, **extra):
        outputs, self._variables = type(self)._build(
            self._geometry, inputs, what=f"tf1_wn.{type(self).__name__}",
            scope=self._scope, reuse=tf.AUTO_REUSE, **self._options, **extra)
        return outputs

    def _connected(self):
        if self._variables is None:
            raise RuntimeError(
                f"{type(self).__name__} {self.scope_name!r} has no variables "
                "yet: call the layer on an input first.")
        return self._variables

    @property
    def bias(self):
        """The bias variable, or None with ``use_bias=False``."""
        return self._connected().bias

    @property
    def variables(self):
        """The layer's variables, in creation order (absent ones left out)."""
        return [var for var in self._connected() if var is not None]


class _WeightNormLayer(LayerObject):
    """Base of the weight-normalized layer objects."""

    _build = staticmethod(builder.build_weight_norm_layer)

    def __init__(self, geometry, activation=None, use_bias=True,
                 init_scale=1.0, trainable_g=True, ema=None,
                 eps=normalization.DEFAULT_EPS, kernel_initializer=None,
                 bias_initializer=None, g_initializer=None, name=None):
        super().__init__(geometry, dict(
            activation=activation, use_bias=use_bias,
            init_scale=validation.positive_number("init_scale", init_scale),
            trainable_g=trainable_g, ema=ema,
            eps=validation.non_negative_number("eps", eps),
            kernel_initializer=kernel_initializer,
            bias_initializer=bias_initializer, g_initializer=g_initializer),
            name=name)

    def __call__(self, inputs, init=False):
        """Applies the layer.

        Args:
          inputs: float tensor (see the matching functional layer).
          init: data-dependent init mode (see `tf1_wn.dense`).

        Returns:
          The output tensor.

        Raises:
          RuntimeError, TypeError, ValueError: as the functional layers.
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


class WeightNormDense(_WeightNormLayer):
    """Weight-normalized dense layer object (see `tf1_wn.dense`).

    Args:
      units: number of output units.
      activation, use_bias, init_scale, trainable_g, ema, eps,
      kernel_initializer, bias_initializer, g_initializer: as `tf1_wn.dense`.
      name: variable scope name (made unique: a second object with the
        same name gets ``name_1``); default ``dense``.

    Raises:
      RuntimeError: in eager mode.
      ValueError, TypeError: for bad configuration.
    """

    def __init__(self, units, name=None, **options):
        super().__init__(kernels.Dense(units), name=name, **options)


class WeightNormConv1D(_WeightNormLayer):
    """Weight-normalized 1-D convolution object (see `tf1_wn.conv1d`)."""

    def __init__(self, filters, kernel_size, strides=1, padding="SAME",
                 dilation_rate=1, data_format="NWC", name=None, **options):
        super().__init__(
            kernels.Conv(1, filters, kernel_size, strides, padding,
                         dilation_rate, data_format), name=name, **options)


class WeightNormConv2D(_WeightNormLayer):
    """Weight-normalized 2-D convolution object (see `tf1_wn.conv2d`)."""

    def __init__(self, filters, kernel_size, strides=1, padding="SAME",
                 dilation_rate=1, data_format="NHWC", name=None, **options):
        super().__init__(
            kernels.Conv(2, filters, kernel_size, strides, padding,
                         dilation_rate, data_format), name=name, **options)


class WeightNormConv3D(_WeightNormLayer):
    """Weight-normalized 3-D convolution object (see `tf1_wn.conv3d`)."""

    def __init__(self, filters, kernel_size, strides=1, padding="SAME",
                 dilation_rate=1, data_format="NDHWC", name=None, **options):
        super().__init__(
            kernels.Conv(3, filters, kernel_size, strides, padding,
                         dilation_rate, data_format), name=name, **options)


class WeightNormConv2DTranspose(_WeightNormLayer):
    """Weight-normalized transposed convolution object (see
    `tf1_wn.conv2d_transpose`)."""

    def __init__(self, filters, kernel_size, strides=1, padding="SAME",
                 data_format="NHWC", name=None, **options):
        super().__init__(
            kernels.ConvTranspose(filters, kernel_size, strides, padding,
                                  data_format), name=name, **options)


class WeightNormDepthwiseConv2D(_WeightNormLayer):
    """Weight-normalized depthwise convolution object (see
    `tf1_wn.depthwise_conv2d`)."""

    def __init__(self, kernel_size, depth_multiplier=1, strides=1,
                 padding="SAME", dilation_rate=1, data_format="NHWC",
                 name=None, **options):
        super().__init__(
            kernels.DepthwiseConv(kernel_size, depth_multiplier, strides,
                                  padding, dilation_rate, data_format),
            name=name, **options)
