"""Argument documentation shared by the layers and cells, written once.

Each public layer's and cell's docstring holds placeholders such as
``{weight_norm_args}`` on lines of their own; `fill` replaces them with the
text below, so ``help(tf1_wn.conv2d)`` lists every argument in full.
"""
#: tf-slim's arguments, with slim's meaning, shared by every layer.
SLIM_ARGS = """
      trainable: False keeps every variable of the layer out of
        TRAINABLE_VARIABLES (e.g. a converted backbone under fine-tuning).
        All variables are in MODEL_VARIABLES, as tf-slim's.
      bias_regularizer: callable on the bias (tf-slim's
        ``biases_regularizer``); its loss goes to REGULARIZATION_LOSSES
        when the variable is created.
      variables_collections: a list of collection names for every
        variable, or a dict from variable name (or tf-slim's ``weights``
        / ``biases``) to such a list.
      outputs_collections: collection names to which the output is added,
        aliased by the layer's scope name
        (``tf_slim.utils.convert_collection_to_dict`` works on them)."""

VARIABLE_DTYPE_ARG = """
      variable_dtype: dtype of the layer's variables; default the inputs'
        dtype.  Give ``tf.float32`` for float16 / bfloat16 inputs (float32
        master weights, as Keras mixed precision keeps): the weight is
        computed in float32 and cast to the inputs' dtype, and the
        optimizer updates float32 variables (float16 Adam with its default
        epsilon, and bfloat16 Adam, which has no GPU kernel, do not
        train)."""

INIT_ARG = """\
      init: data-dependent init mode.  The output is computed from v alone,
        normalized to per-channel mean 0 and std `init_scale` on this
        batch, and ops assigning the matching g and bias are added to
        `tf1_wn.INIT_OPS` (run them once with `tf1_wn.init_op()`)."""

WEIGHT_NORM_ARGS = ("""\
      activation: callable applied to the output, or None.
      use_bias: whether to add a per-channel bias.
      init_scale: positive target standard deviation of the
        pre-activation after data init.
      trainable_g: when False, g is kept out of TRAINABLE_VARIABLES (data
        init still sets it).
      ema: a `tf.compat.v1.train.ExponentialMovingAverage` whose averages
        of v, g and bias are read instead of the variables (Polyak
        averaging); not with `init=True`.
      eps: non-negative number added to the sum of squares inside the norm,
        ``w = g * v / sqrt(sum(v**2) + eps)`` (default
        `tf1_wn.DEFAULT_EPS`, 1e-12: an all-zero column gives a zero
        weight, not NaN).
      kernel_initializer: initializer of v; default normal with std 0.05
        (the direction's scale does not change the output).
      bias_initializer: initializer of bias; default zeros.
      g_initializer: initializer of g; default ones.
      kernel_regularizer: callable on the normalized weight
        ``g * v / ||v||`` (tf-slim's ``weights_regularizer``), the weight
        the layer computes with, so a converted model keeps the plain
        model's penalty (L2 on it equals L2 on g); its loss is added to
        REGULARIZATION_LOSSES once, on the layer's first build."""
                    + SLIM_ARGS + VARIABLE_DTYPE_ARG)

SCOPE_ARGS = """\
      scope: variable scope (a string or a VariableScope).  None opens a
        fresh, uniquely named scope on every call.
      reuse: reuse mode when `scope` is given; the default AUTO_REUSE
        shares the variables of every call with the same scope."""

WEIGHT_NORM_RAISES = """\
    Raises:
      RuntimeError: in eager mode.
      TypeError: non-float inputs or a non-callable activation.
      ValueError: a wrong input rank, an unknown channel dimension, a bad
        argument value, or ``init=True`` together with `ema`."""

WEIGHT_STD_ARGS = ("""\
      activation: callable applied to the output, or None.
      use_bias: whether to add a per-channel bias.
      gain: whether to learn a per-output-channel gain (initialized to
        ones).
      variant: ``'paper'`` (default: unbiased std, ``std + 1e-5``),
        ``'paper_tf'`` (biased std, ``std + 1e-5``), ``'bit'`` (biased,
        ``sqrt(var + 1e-10)``), ``'timm'`` (biased, ``sqrt(var + 1e-6)``),
        or None with all of `eps`, `eps_placement` and `unbiased` given.
      eps: positive number overriding the variant's.
      eps_placement: ``'std'`` (``(w - mean) / (std + eps)``) or ``'var'``
        (``(w - mean) / sqrt(var + eps)``), overriding the variant's.
      unbiased: bool, divide the variance by ``n - 1``; overrides the
        variant's.
      ema: a `tf.compat.v1.train.ExponentialMovingAverage` whose averages
        of kernel, gain and bias are read instead of the variables.
      kernel_initializer: initializer of kernel; default normal with std
        0.05 (its scale sets the effective learning rate).
      bias_initializer: initializer of bias; default zeros.
      gain_initializer: initializer of gain; default ones.
      kernel_regularizer: callable on the kernel variable (tf-slim's
        ``weights_regularizer``): the standardized weight has fixed
        per-channel moments, so a penalty on it would be constant; weight
        decay on the raw kernel is what standardized networks train with."""
                   + SLIM_ARGS + VARIABLE_DTYPE_ARG)

WEIGHT_STD_RAISES = """\
    Raises:
      RuntimeError: in eager mode.
      TypeError: non-float inputs or a non-callable activation.
      ValueError: a wrong input rank, an unknown channel dimension, or a
        bad argument value (including the variant arguments)."""

OBJECT_NAME_ARG = """\
      name: variable scope name, made unique (a second object with the
        same name gets ``name_1``); default the functional layer's scope
        name."""

CELL_ARGS = """\
      activation: the nonlinearity `act`; default tf.tanh.
      kernel_initializer: initializer of every ``input/v``; default
        N(0, 0.05) as the weight-normalized layers.
      recurrent_initializer: initializer of every ``recurrent/v``; default
        N(0, 0.05).
      bias_initializer: initializer of every bias; default zeros (the GRU's
        gates: 1.0).
      trainable_g: whether the g variables are trainable.
      eps: non-negative number added to each column's sum of squares in
        the norm (default `tf1_wn.DEFAULT_EPS`).
      name: variable scope of the cell (exact, with reuse, so two cells
        given the same name in the same scope share variables); default a
        fresh unique scope under the variable scope of the first call.
      dtype: float16, bfloat16, float32 or float64; default the inputs'
        dtype.  For float16 and bfloat16 the norms run in float32.
      ema: optional `tf.compat.v1.train.ExponentialMovingAverage`: the cell
        computes with the averages of v, g and bias (the averaged test
        model).  Give it the trained cell's `name`, so it reuses that
        cell's variables, and build it after ``ema.apply``.
      variable_dtype: dtype of the variables; default the inputs' dtype.
        ``tf.float32`` for float16 / bfloat16 inputs keeps float32 master
        weights: kernels are normalized in float32 and cast."""

CELL_RAISES = """\
    Raises:
      ValueError: a bad num_units, eps or name.
      TypeError: a non-callable activation, another dtype, or an `ema`
        that is not an ExponentialMovingAverage."""

_SNIPPETS = {
    "cell_args": CELL_ARGS,
    "cell_raises": CELL_RAISES,
    "init_arg": INIT_ARG,
    "weight_norm_args": WEIGHT_NORM_ARGS,
    "weight_std_args": WEIGHT_STD_ARGS,
    "scope_args": SCOPE_ARGS,
    "weight_norm_raises": WEIGHT_NORM_RAISES,
    "weight_std_raises": WEIGHT_STD_RAISES,
    "name_arg": OBJECT_NAME_ARG,
}


def fill(obj):
    """Replaces the ``{placeholder}`` lines of `obj`'s docstring.

    Args:
      obj: a function or class whose docstring names placeholders from
        this module on lines of their own (indented as an Args entry, or
        as the ``Raises:`` header for the ``*_raises`` ones).

    Returns:
      `obj`, its docstring filled in.

    Raises:
      KeyError: a ``{...}`` line names no known placeholder.
    """
    lines = []
    for line in obj.__doc__.split("\n"):
        stripped = line.strip()
        if stripped.startswith("{") and stripped.endswith("}"):
            lines.append(_SNIPPETS[stripped[1:-1]])
        else:
            lines.append(line)
    obj.__doc__ = "\n".join(lines)
    return obj
