"""What every layer builder shares.

The weight-normalized (`tf1_wn.layers.weight_norm`) and weight-standardized
(`tf1_wn.layers.weight_std`) builders go through these helpers: the
layer's variable scope, the input checks, one `make_variables` for the
kernel-shaped and per-channel variables, the EMA reads, the bias add, and
`LayerObject`, the base of the layer objects.
"""
import collections

from tf1_wn import validation
from tf1_wn._tf import tf
from tf1_wn.errors import NotConnectedError
from tf1_wn.layers import slim_conventions

#: Standard deviation of the default normal initializer of ``v`` and
#: ``kernel``.  For weight norm the direction's scale does not change the
#: output; for weight standardization it sets the effective learning rate.
DEFAULT_KERNEL_INITIALIZER_STDDEV = 0.05

#: One variable of a layer: its name, its initializer (None: the default
#: of `make_variables`), whether it is trainable and its regularizer (added
#: by `tf.get_variable` when it creates the variable).  ``per_channel``
#: variables have shape ``[out_channels]``, the others the kernel's shape.
VariableSpec = collections.namedtuple(
    "VariableSpec", ["name", "per_channel", "initializer", "default",
                     "trainable", "regularizer"])


def kernel_spec(name, initializer, regularizer=None):
    """The spec of the kernel-shaped variable (``v`` or ``kernel``)."""
    return VariableSpec(name, False, initializer, tf.random_normal_initializer(
        0.0, DEFAULT_KERNEL_INITIALIZER_STDDEV), True, regularizer)


def channel_spec(name, initializer, default, trainable=True,
                 regularizer=None):
    """The spec of a per-output-channel variable (``g``, ``gain``,
    ``bias``)."""
    return VariableSpec(name, True, initializer, default, trainable,
                        regularizer)


def make_variables(geometry, in_channels, dtype, specs, trainable=True,
                   variables_collections=None):
    """Creates (or reuses) a layer's variables in the current scope.

    Every variable goes to GLOBAL_VARIABLES and MODEL_VARIABLES (as
    tf-slim's ``model_variable``), to TRAINABLE_VARIABLES when both
    `trainable` and its spec say so, and to the collections
    `variables_collections` names for it.

    Args:
      geometry: a `tf1_wn.geometry` object.
      in_channels: the static number of input channels.
      dtype: the variables' dtype.
      specs: `VariableSpec`s in creation order; None entries stand for
        absent variables.
      trainable: False freezes every variable of the layer.
      variables_collections: see `slim_conventions.variable_collections`.

    Returns:
      A list with one variable (or None) per entry of `specs`.
    """
    kernel_shape = geometry.kernel_shape(in_channels)
    channels = [geometry.out_channels(in_channels)]
    return [None if spec is None else tf.get_variable(
        spec.name, channels if spec.per_channel else kernel_shape, dtype,
        initializer=spec.initializer or spec.default,
        regularizer=spec.regularizer,
        trainable=bool(trainable and spec.trainable),
        collections=slim_conventions.collections_for(
            variables_collections, spec.name)) for spec in specs]


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


def averaged(ema, variable):
    """The EMA shadow of `variable`, or `variable` if it is not trained.

    A non-trainable variable (g with ``trainable_g=False``) only changes in
    data init, after which `tf1_wn.sync_ema` makes its shadow equal to it;
    when it was left out of ``ema.apply`` the variable itself is that value.

    Args:
      ema: a `tf.compat.v1.train.ExponentialMovingAverage`.
      variable: a layer variable, or None.

    Returns:
      The shadow, the variable itself, or None for None.

    Raises:
      ValueError: if a trainable variable has no average.
    """
    if variable is None:
        return None
    shadow = ema.average(variable)
    if shadow is not None:
        return shadow
    if any(variable is trained for trained in tf.trainable_variables()):
        raise ValueError(
            f"`ema` has no average for {variable.name}: call "
            "ema.apply(var_list) with this layer's variables before building "
            "the averaged model.")
    return variable


def compute_cast(tensor, like):
    """`tensor` in `like`'s dtype (float32 master weights used by a
    float16 / bfloat16 layer); None stays None."""
    if tensor is None or tensor.dtype.base_dtype == like.dtype.base_dtype:
        return tensor
    return tf.cast(tensor, like.dtype.base_dtype)


def bias_add(outputs, bias, channels_first):
    """Adds a per-channel `bias` (a no-op for None)."""
    if bias is None:
        return outputs
    return tf.nn.bias_add(
        outputs, bias, data_format="NC..." if channels_first else "N...C")


def checked_inputs(geometry, inputs, what, activation):
    """The checks every layer builder starts with.

    Args:
      geometry: a `tf1_wn.geometry` object.
      inputs: the input tensor (or something convertible).
      what: the public name of the builder, for messages.
      activation: the activation argument.

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
    validation.check_callable("activation", activation)
    return inputs, in_channels


class LayerObject:
    """Base of the layer objects: one geometry, one scope, its variables.

    The constructor validates the configuration and claims one variable
    scope (Sonnet's rule: a second object named ``block`` gets
    ``block_1`` rather than silently sharing the first one's variables);
    every call builds the graph in that scope and reuses its variables.

    Subclasses set `_build` (a ``build_*_layer`` function returning
    ``(outputs, variables_namedtuple)``) and pass the validated keyword
    options it takes.

    Args:
      geometry: a `tf1_wn.geometry` object.
      options: keyword arguments of `_build`.
      name: variable scope name (made unique); default the geometry's.

    Raises:
      RuntimeError: in eager mode.
      TypeError: a non-callable activation.
    """

    _build = None

    def __init__(self, geometry, options, name=None):
        validation.assert_graph_mode(f"tf1_wn.{type(self).__name__}")
        validation.check_callable("activation", options.get("activation"))
        self._geometry = geometry
        self._options = options
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
            raise NotConnectedError(
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
