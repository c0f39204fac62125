"""Shared machinery of the weight-normalized recurrent cells.

A cell is made of one or more *projections*: a weight-normalized input
kernel ``Wx = g_x * v_x / ||v_x||``, a weight-normalized recurrent kernel
``Wh = g_h * v_h / ||v_h||`` and a bias, under ``<cell scope>/<prefix>``.

Speed: ``dynamic_rnn`` calls the cell inside a ``tf.while_loop``, where every
op created runs once per time step.  The variables and the normalized
kernels are therefore created on the cell's first call in a graph under
``tf.init_scope()``, which leaves both a control-flow-v2 loop body (a
FuncGraph, the TF2 default even in graph mode) and a v1 while context.  They
run once per ``session.run``; the loop captures the kernels as loop
invariants and its gradient sums theirs over the steps.
"""
import collections
import weakref

from tf1_wn.data_init import pooling
from tf1_wn import normalization
from tf1_wn import validation
from tf1_wn import variable_names as names
from tf1_wn._tf import tf
from tf1_wn.errors import CellDtypeError
from tf1_wn.layers import base as layer_base
from tf1_wn.layers.base import DEFAULT_KERNEL_INITIALIZER_STDDEV

#: Variable and input dtypes the cells accept.  For float16 and bfloat16 the
#: norms run in float32 (`normalization.statistics_dtype`) and the kernels,
#: gates and states in the cell's dtype.
CELL_DTYPES = validation.FLOAT_DTYPES

#: The variables and normalized kernels of one projection.
#: `kernel` is ``concat([Wx, Wh], 0)``, shape ``[input_depth + units, width]``,
#: the layout of TF1's own cells, and `bias_value` the bias a step adds: the
#: variable, its EMA shadow (``ema=``) or its data-init value (init mode).
Projection = collections.namedtuple(
    "Projection", ["input_v", "input_g", "recurrent_v", "recurrent_g", "bias",
                   "kernel", "bias_value"])

#: A projection's name prefix inside the cell scope ('' for none), its width
#: (columns) and the default value of its bias.
ProjectionSpec = collections.namedtuple(
    "ProjectionSpec", ["prefix", "width", "bias_value"])

_Built = collections.namedtuple(
    "_Built", ["scope_name", "input_depth", "dtype", "projections"])


# Per graph and enclosing variable scope, how many cells took each default
# name.  variable_scope's own
# default_name counter is not enough: re-entering a scope ("rnn" of every
# dynamic_rnn call) resets the counts below it, so a second cell would get
# the first one's scope.  TF1's Keras-based cells had the same per-graph
# object-name counter.
_DEFAULT_NAME_COUNTS = weakref.WeakKeyDictionary()


def unique_default_name(graph, base):
    """``base``, then ``base_1``, ``base_2`` ... per graph and variable scope.

    Call it where the cell's scope will be opened.
    """
    counts = _DEFAULT_NAME_COUNTS.setdefault(graph, collections.Counter())
    key = (tf.get_variable_scope().name, base)
    count = counts[key]
    counts[key] += 1
    return base if count == 0 else f"{base}_{count}"


def check_cell_dtype(dtype, what):
    """`dtype` if the cells support it; else TF1's cells' ValueError (also a
    TypeError, as tf1-wn raised before).

    Raises:
      CellDtypeError: for a non-float dtype.
    """
    dtype = dtype.base_dtype
    if dtype not in CELL_DTYPES:
        raise CellDtypeError(
            f"{what}: RNN cell only supports floating point inputs, but saw "
            f"dtype: {dtype.name} (supported: {validation.dtype_names()}).")
    return dtype


def _state_description(state_size):
    if tf.nest.is_nested(state_size):
        return f"a {type(state_size).__name__} of sizes {state_size}"
    return f"one tensor of size {state_size}"


class WeightNormCellBase:
    """Base of the weight-normalized cells: RNNCell protocol, variables.

    Subclasses define `_projection_specs()` and `_step(inputs, state,
    projections)` and the `state_size`/`output_size` properties.
    """

    _default_name = "wn_cell"

    def __init__(self, num_units, activation=None, kernel_initializer=None,
                 recurrent_initializer=None, bias_initializer=None,
                 trainable_g=True, eps=normalization.DEFAULT_EPS, name=None,
                 dtype=None, ema=None, variable_dtype=None):
        self._num_units = validation.positive_int("num_units", num_units)
        self._activation = validation.check_callable(
            "activation", activation, example="tf.tanh") or tf.tanh
        self._kernel_initializer = kernel_initializer
        self._recurrent_initializer = recurrent_initializer
        self._bias_initializer = bias_initializer
        self._trainable_g = bool(trainable_g)
        self._eps = validation.non_negative_number("eps", eps)
        if name is not None and (not isinstance(name, str) or not name):
            raise ValueError(
                f"`name` must be a non-empty string or None, got {name!r}.")
        self._name = name
        self._dtype = None
        if dtype is not None:
            self._dtype = check_cell_dtype(tf.as_dtype(dtype), "`dtype`")
        if ema is not None and not isinstance(
                ema, tf.train.ExponentialMovingAverage):
            raise TypeError(
                "`ema` must be a tf.compat.v1.train.ExponentialMovingAverage "
                f"or None, got {type(ema).__name__}.")
        self._ema = ema
        self._variable_dtype = validation.float_dtype_or_none(
            "variable_dtype", variable_dtype)
        # One build per graph: a cell object can be used in several graphs.
        self._built = weakref.WeakKeyDictionary()

    # -- RNNCell protocol ---------------------------------------------------

    @property
    def num_units(self):
        return self._num_units

    @property
    def name(self):
        """The variable scope name given, or None for a default name."""
        return self._name

    @property
    def dtype(self):
        return self._dtype

    def zero_state(self, batch_size, dtype):
        """Zero-filled state tensors in the structure of `state_size`.

        Args:
          batch_size: int or scalar int tensor.
          dtype: the state dtype.

        Returns:
          A tensor, or a nested tuple of tensors, of shape
          ``[batch_size, size]`` each.

        Raises:
          RuntimeError: in eager mode.
        """
        validation.assert_graph_mode(f"{type(self).__name__}.zero_state")
        with tf.name_scope(f"{type(self).__name__}ZeroState"):
            return tf.nest.map_structure(
                lambda size: tf.zeros(
                    tf.stack([batch_size, size]) if tf.is_tensor(batch_size)
                    else [batch_size, size], dtype=dtype),
                self.state_size)

    def get_initial_state(self, inputs=None, batch_size=None, dtype=None):
        """TF's ``RNNCell.get_initial_state``: `zero_state` with the batch
        size and dtype of `inputs`, or the ones given.

        Raises:
          ValueError: `batch_size` or `dtype` disagreeing with `inputs`, or
            either missing without `inputs` (TF's checks and messages).
        """
        return initial_state(self, inputs, batch_size, dtype)

    def __call__(self, inputs, state, scope=None):
        """Runs one step.

        The first call in a graph creates the variables under the current
        variable scope, in ``name`` (or a fresh ``wn_..._cell``,
        ``wn_..._cell_1`` ... scope), or in `scope` when given; every later
        call reuses them and `scope` is ignored.

        Args:
          inputs: ``[batch, input_depth]`` float tensor, input_depth static.
          state: the state, structured as `state_size`.
          scope: optional variable scope for the first call.

        Returns:
          ``(output, new_state)``.

        Raises:
          RuntimeError: in eager mode.
          TypeError: non-float inputs, or a dtype other than the cell's.
          ValueError: inputs not of rank 2, unknown input depth, or an input
            depth different from the one the variables were built for.
        """
        return self._run_step(inputs, state, scope, None)

    def _run_step(self, inputs, state, scope, projections):
        """`__call__` with `projections` (default the built ones)."""
        validation.assert_graph_mode(type(self).__name__)
        inputs = tf.convert_to_tensor(inputs)
        check_cell_dtype(inputs.dtype,
                         f"`inputs` of {type(self).__name__}, {inputs.name}")
        validation.check_rank("inputs", inputs, 2, "[batch, input_depth]")
        _check_state_structure(self.state_size, state)
        built = self.build(inputs, scope=scope)
        with tf.name_scope(built.scope_name.rsplit("/", 1)[-1]):
            return self._step(inputs, state,
                              projections or built.projections)

    # -- variables ----------------------------------------------------------

    def build(self, inputs, scope=None):
        """Creates the variables and the normalized kernels (once per graph).

        Called automatically by `__call__` and `data_init`; callable
        beforehand with a shape, as Keras and TF1 cells are
        (``cell.build(tf.TensorShape([None, depth]))``), in the cell's
        `dtype` (float32 when none was given).

        Args:
          inputs: a tensor whose last axis is the input depth, or a
            `tf.TensorShape` (or list) whose last entry is.
          scope: optional variable scope (first build only).

        Returns:
          The build record, with `scope_name` and `projections` (a dict from
          projection prefix to `Projection`).

        Raises:
          ValueError, TypeError: as `__call__`.
        """
        with tf.init_scope():
            graph = tf.get_default_graph()
        if isinstance(inputs, (tf.TensorShape, list, tuple)):
            inputs = tf.placeholder(self._dtype or tf.float32,
                                    tf.TensorShape(inputs),
                                    name="build_shape")
        dtype = check_cell_dtype(
            inputs.dtype, f"`inputs` of {type(self).__name__}, {inputs.name}")
        input_depth = validation.static_channels("inputs", inputs, -1)
        built = self._built.get(graph)
        if built is not None:
            if input_depth != built.input_depth:
                raise ValueError(
                    f"{type(self).__name__} {built.scope_name!r} was built "
                    f"for input depth {built.input_depth}, got `inputs` of "
                    f"shape {validation.shape_text(inputs.shape)} for "
                    f"{inputs.name}.")
            if dtype != built.dtype:
                raise TypeError(
                    f"{type(self).__name__} {built.scope_name!r} holds "
                    f"{built.dtype.name} variables, got `inputs` of dtype "
                    f"{dtype.name} for {inputs.name}.")
            return built
        if self._dtype is not None and dtype != self._dtype:
            raise TypeError(
                f"{type(self).__name__} was created with dtype="
                f"{self._dtype.name}, got `inputs` of dtype {dtype.name} for "
                f"{inputs.name}.")
        # Outside any loop body or while/cond context: run once per run call.
        with tf.init_scope():
            if scope is not None:
                var_scope = tf.variable_scope(scope, reuse=tf.AUTO_REUSE)
            elif self._name is not None:
                var_scope = tf.variable_scope(self._name, reuse=tf.AUTO_REUSE)
            else:
                var_scope = tf.variable_scope(
                    None, default_name=unique_default_name(
                        graph, self._default_name))
            with var_scope as captured:
                projections = {
                    spec.prefix: self._make_projection(
                        spec, input_depth, self._variable_dtype or dtype,
                        dtype)
                    for spec in self._projection_specs()}
        built = _Built(captured.name, input_depth, dtype, projections)
        self._built[graph] = built
        return built

    def _make_projection(self, spec, input_depth, dtype, compute_dtype):
        def direction_and_gain(name, rows, initializer):
            with tf.variable_scope(name) as scope:
                if initializer is None and scope.initializer is None:
                    initializer = tf.random_normal_initializer(
                        0.0, DEFAULT_KERNEL_INITIALIZER_STDDEV)
                # None: the enclosing variable scope's initializer, as the
                # kernels of TF1's cells take it.
                v = tf.get_variable(
                    names.DIRECTION, [rows, spec.width], dtype,
                    initializer=initializer)
                g = tf.get_variable(
                    names.GAIN, [spec.width], dtype,
                    initializer=tf.ones_initializer(),
                    trainable=self._trainable_g)
            return v, g

        def variables():
            input_v, input_g = direction_and_gain(
                names.CELL_INPUT, input_depth, self._kernel_initializer)
            recurrent_v, recurrent_g = direction_and_gain(
                names.CELL_RECURRENT, self._num_units,
                self._recurrent_initializer)
            bias = tf.get_variable(
                names.BIAS, [spec.width], dtype,
                initializer=self._bias_initializer
                or tf.constant_initializer(spec.bias_value))
            projection = Projection(input_v, input_g, recurrent_v,
                                    recurrent_g, bias, None, None)
            if self._ema is None:
                return self._with_kernel(projection, projection[:5],
                                         compute_dtype)
            return self._with_kernel(
                projection, [self._averaged(var) for var in projection[:5]],
                compute_dtype)

        if spec.prefix:
            with tf.variable_scope(spec.prefix):
                return variables()
        return variables()

    def _averaged(self, variable):
        try:
            return layer_base.averaged(self._ema, variable)
        except ValueError:
            raise ValueError(
                f"`ema` of {type(self).__name__} has no average for "
                f"{variable.name}: build the averaged cell with the trained "
                "cell's `name` (so it reuses its variables), after "
                "ema.apply(var_list) with them.") from None

    def _with_kernel(self, projection, values, compute_dtype):
        """`projection` with the kernel and bias a step uses, made from
        `values`: its (input_v, input_g, recurrent_v, recurrent_g, bias)
        or tensors standing for them (shadows, init values), cast to
        `compute_dtype` (float32 master weights of a half-precision cell).
        """
        input_v, input_g, recurrent_v, recurrent_g, bias = values
        with tf.name_scope("normalized_kernel"):
            kernel = tf.concat([
                normalization.normalize_weight(input_v, input_g, [0],
                                               self._eps),
                normalization.normalize_weight(recurrent_v, recurrent_g, [0],
                                               self._eps)], axis=0)
        if kernel.dtype != compute_dtype:
            kernel = tf.cast(kernel, compute_dtype)
            bias = tf.cast(bias, compute_dtype)
        return projection._replace(kernel=kernel, bias_value=bias)

    @property
    def variables(self):
        """The cell's variables in the default graph (empty before a call)."""
        with tf.init_scope():
            built = self._built.get(tf.get_default_graph())
        if built is None:
            return []
        return [var for proj in built.projections.values()
                for var in (proj.input_v, proj.input_g, proj.recurrent_v,
                            proj.recurrent_g, proj.bias)]

    trainable_variables = property(
        lambda self: [v for v in self.variables
                      if any(v is t for t in tf.trainable_variables())])

    # -- data-dependent init ------------------------------------------------

    def data_init(self, inputs, sequence_length=None, init_scale=1.0,
                  time_major=False):
        """Data-dependent init of the input projections' g and bias.

        Sets, for every projection, ``input/g`` and ``bias`` so that over
        every valid (batch, time) position of `inputs` (positions at or
        beyond `sequence_length` are ignored) each gate unit's input
        projection ``x . v_x / ||v_x|| * g_x + bias`` has mean 0 and
        population std `init_scale`.  The statistics come from ``v_x``
        alone and the values are assigned outright, so running the op twice
        (or after training) gives the same values; v is untouched.

        The recurrent g is left as it is: the recurrent input depends on the
        state, which is zero at the first step.  For the LSTM the
        constructor's `forget_bias` is not a variable and is still added to
        the forget gate after init.  For the GRU the gates' bias (1.0 by
        default) is replaced like every other bias.

        To initialize layers after the cell in the same run, run the cell
        with `tf1_wn.dynamic_rnn` (``init=True``) instead: its outputs are
        those of the initialized cell.  Inside `tf1_wn.build_towers` the
        statistics are pooled over the towers.

        Args:
          inputs: ``[batch, time, depth]`` (``[time, batch, depth]`` when
            `time_major`) float tensor.
          sequence_length: optional ``[batch]`` int tensor of valid lengths.
          init_scale: target standard deviation.
          time_major: layout of `inputs`.

        Returns:
          A `tf.Operation`, also added to `tf1_wn.INIT_OPS`.

        Raises:
          RuntimeError: in eager mode.
          TypeError: non-float inputs.
          ValueError: inputs not of rank 3, unknown depth, bad init_scale,
            a cell built with ``ema``.
        """
        return self.init_mode(inputs, sequence_length, init_scale,
                              time_major)[0]

    def init_mode(self, inputs, sequence_length=None, init_scale=1.0,
                  time_major=False):
        """`data_init`, and the cell as it computes after that init.

        Args:
          inputs, sequence_length, init_scale, time_major: as `data_init`.

        Returns:
          ``(op, initialized_cell)``: the init op, and a cell following the
          RNNCell protocol whose steps use the data-init values of g and
          bias (after the op ran), for the init pass of whatever follows.

        Raises:
          As `data_init`.
        """
        what = f"{type(self).__name__}.data_init"
        validation.assert_graph_mode(what)
        if self._ema is not None:
            raise ValueError(
                f"{what}: this cell reads the EMA shadows (`ema`); data init "
                "sets the raw variables: run it on the trained cell, then "
                "tf1_wn.sync_ema.")
        inputs = validation.check_float_tensor("inputs", inputs)
        validation.check_rank(
            "inputs", inputs, 3,
            "[time, batch, depth]" if time_major else "[batch, time, depth]")
        init_scale = validation.positive_number("init_scale", init_scale)
        built = self.build(inputs)
        with tf.name_scope(built.scope_name.rsplit("/", 1)[-1] + "_data_init"):
            valid = self._valid_positions(inputs, sequence_length,
                                          time_major, built.input_depth)
            values = {}
            for prefix, proj in built.projections.items():
                unit_kernel = normalization.normalize_weight(
                    proj.input_v, None, [0], self._eps)
                t = tf.matmul(valid,
                              layer_base.compute_cast(unit_kernel, valid))
                key = proj.input_g.op.name
                g_value, bias_value, _ = normalization.data_init_statistics(
                    t, 1, init_scale, layer=built.scope_name,
                    pool=pooling.moments_pool(key, proj.input_g))
                values[prefix] = (tf.cast(g_value, proj.input_g.dtype),
                                  tf.cast(bias_value, proj.bias.dtype))
            op = pooling.assign_once(built.scope_name + "/data_init", [
                pair for prefix, proj in built.projections.items()
                for pair in zip((proj.input_g, proj.bias), values[prefix])])
            with tf.control_dependencies([op]):
                projections = {
                    prefix: self._with_kernel(proj, (
                        proj.input_v, tf.identity(values[prefix][0]),
                        proj.recurrent_v, proj.recurrent_g,
                        tf.identity(values[prefix][1])), built.dtype)
                    for prefix, proj in built.projections.items()}
        return op, InitializedCell(self, projections)

    @staticmethod
    def _valid_positions(inputs, sequence_length, time_major, depth):
        """``[positions, depth]``: the inputs at valid (batch, time)."""
        if time_major:
            inputs = tf.transpose(inputs, [1, 0, 2])
        if sequence_length is None:
            return tf.reshape(inputs, [-1, depth])
        sequence_length = tf.convert_to_tensor(sequence_length)
        if not sequence_length.dtype.is_integer:
            raise TypeError(
                f"`sequence_length` must be an integer tensor, got "
                f"{sequence_length.dtype.name} for {sequence_length.name}.")
        validation.check_rank("sequence_length", sequence_length, 1,
                              "[batch]")
        mask = tf.sequence_mask(sequence_length, tf.shape(inputs)[1])
        return tf.boolean_mask(inputs, mask)

    # -- subclass interface -------------------------------------------------

    def _projection_specs(self):
        raise NotImplementedError

    def _step(self, inputs, state, projections):
        raise NotImplementedError

    def _linear(self, projection, inputs, recurrent):
        """``concat([x, h]) @ [Wx; Wh] + bias``, one matmul per step."""
        return tf.nn.bias_add(
            tf.matmul(tf.concat([inputs, recurrent], axis=1),
                      projection.kernel),
            projection.bias_value)

    def __repr__(self):
        return (f"{type(self).__name__}(num_units={self._num_units}, "
                f"name={self._name!r})")


class InitializedCell:
    """A cell as it computes once its data init ran (`init_mode`).

    Follows the RNNCell protocol; its steps use the cell's variables
    except the input g and bias, which are the data-init values, computed
    after the init op.  Run in the init pass only: later layers built with
    ``init=True`` on its outputs take their statistics on initialized
    activations in the same ``session.run``.

    Args:
      cell: the weight-normalized cell.
      projections: its projections with the init values.
    """

    def __init__(self, cell, projections):
        self._cell = cell
        self._projections = projections

    state_size = property(lambda self: self._cell.state_size)
    output_size = property(lambda self: self._cell.output_size)
    dtype = property(lambda self: self._cell.dtype)

    def zero_state(self, batch_size, dtype):
        """The cell's `zero_state`."""
        return self._cell.zero_state(batch_size, dtype)

    def get_initial_state(self, inputs=None, batch_size=None, dtype=None):
        """The cell's `get_initial_state`."""
        return self._cell.get_initial_state(inputs, batch_size, dtype)

    def __call__(self, inputs, state, scope=None):
        """One step of the initialized cell (`scope` is ignored: the
        variables exist)."""
        del scope
        return self._cell._run_step(  # pylint: disable=protected-access
            inputs, state, None, self._projections)

    def __repr__(self):
        return f"InitializedCell({self._cell!r})"


def initial_state(cell, inputs, batch_size, dtype):
    """TF's ``get_initial_state`` for any cell with `zero_state`."""
    if inputs is not None:
        inputs = tf.convert_to_tensor(inputs, name="inputs")
        static_batch = inputs.shape[0] if inputs.shape.ndims else None
        if batch_size is not None:
            given = (tf.get_static_value(batch_size)
                     if tf.is_tensor(batch_size) else batch_size)
            if static_batch != given:
                raise ValueError(
                    "batch size from input tensor is different from the "
                    f"input param. Input tensor batch: {static_batch}, "
                    f"batch_size: {batch_size}")
        if dtype is not None and inputs.dtype != dtype:
            raise ValueError(
                "dtype from input tensor is different from the input param. "
                f"Input tensor dtype: {inputs.dtype}, dtype: {dtype}")
        batch_size = static_batch or tf.shape(inputs)[0]
        dtype = inputs.dtype
    if batch_size is None or dtype is None:
        raise ValueError(
            "batch_size and dtype cannot be None while constructing initial "
            f"state: batch_size={batch_size}, dtype={dtype}")
    return cell.zero_state(batch_size, dtype)


def _check_state_structure(state_size, state):
    """TF's message shape for a state that is not structured as
    `state_size`: ``Expected state to be ..., but received: ...``."""
    try:
        tf.nest.assert_same_structure(state_size, state, check_types=False)
    except (ValueError, TypeError):
        raise ValueError(
            f"Expected state to be {_state_description(state_size)}, but "
            f"received: {state!r}") from None
