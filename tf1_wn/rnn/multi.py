"""`MultiRNNCell`: TF1's cell stacking without Keras.

Under Keras 3 `tf.compat.v1.nn.rnn_cell.MultiRNNCell` raises; this class has
TF1's semantics (state tuple of the cells' states, variable scopes
``<scope>/cell_0``, ``<scope>/cell_1`` ...) and accepts any object following
the RNNCell protocol.
"""
import contextlib
import weakref

from tf1_wn import validation
from tf1_wn.rnn.base import initial_state, unique_default_name
from tf1_wn._tf import tf


def _check_cell(index, cell):
    missing = [attr for attr in ("state_size", "output_size", "zero_state")
               if not hasattr(cell, attr)]
    if missing or not callable(cell):
        what = ", ".join(missing) if missing else "__call__"
        raise TypeError(
            f"`cells[{index}]` must follow the RNNCell protocol (state_size, "
            f"output_size, zero_state, __call__), got {cell!r} lacking "
            f"{what}.")


class MultiRNNCell:
    """Stacks cells: the output of cell i is the input of cell i + 1.

    Args:
      cells: non-empty list of cells (tf1_wn cells or any RNNCell-like
        object).  The same object twice shares its variables.
      state_is_tuple: states as a tuple with one entry per cell (default);
        if False, the cells' (non-nested) states are concatenated along
        axis 1.
      name: variable scope; default a fresh ``multi_rnn_cell`` scope under
        the variable scope of the first call, as TF1.

    Raises:
      ValueError: empty `cells`; ``state_is_tuple=False`` with a cell whose
        state is nested.
      TypeError: `cells` not a list/tuple, or an entry not a cell.
    """

    def __init__(self, cells, state_is_tuple=True, name=None):
        if not isinstance(cells, (list, tuple)):
            raise TypeError(
                f"`cells` must be a list or tuple of cells, got {cells!r}.")
        if not cells:
            raise ValueError("`cells` must contain at least one cell, got [].")
        for index, cell in enumerate(cells):
            _check_cell(index, cell)
        self._cells = list(cells)
        self._state_is_tuple = bool(state_is_tuple)
        if not self._state_is_tuple:
            nested = [i for i, c in enumerate(cells)
                      if tf.nest.is_nested(c.state_size)]
            if nested:
                raise ValueError(
                    f"`state_is_tuple=False` needs flat cell states, but "
                    f"cells {nested} have nested state sizes "
                    f"{[cells[i].state_size for i in nested]}: build them "
                    "with state_is_tuple=False or keep state_is_tuple=True.")
        self._name = name
        self._scopes = weakref.WeakKeyDictionary()

    @property
    def cells(self):
        return list(self._cells)

    @property
    def state_size(self):
        if self._state_is_tuple:
            return tuple(cell.state_size for cell in self._cells)
        return sum(cell.state_size for cell in self._cells)

    @property
    def output_size(self):
        return self._cells[-1].output_size

    def zero_state(self, batch_size, dtype):
        """The cells' zero states (a tuple, or concatenated).

        Args:
          batch_size: int or scalar int tensor.
          dtype: the state dtype.

        Returns:
          A tuple with each cell's `zero_state`, or their concatenation.
        """
        validation.assert_graph_mode("MultiRNNCell.zero_state")
        with tf.name_scope("MultiRNNCellZeroState"):
            states = tuple(cell.zero_state(batch_size, dtype)
                           for cell in self._cells)
            if self._state_is_tuple:
                return states
            return tf.concat(states, axis=1)

    def get_initial_state(self, inputs=None, batch_size=None, dtype=None):
        """TF's ``get_initial_state``: `zero_state` with the batch size and
        dtype of `inputs`, or the ones given.

        Raises:
          ValueError: as `WeightNormCellBase.get_initial_state`.
        """
        return initial_state(self, inputs, batch_size, dtype)

    @property
    def dtype(self):
        """The first cell dtype that is set (None if no cell has one), as
        a TF1 layer's dtype before it is built."""
        for cell in self._cells:
            dtype = getattr(cell, "dtype", None)
            if dtype is not None:
                return dtype
        return None

    def __call__(self, inputs, state, scope=None):
        """Runs every cell in turn.

        Args:
          inputs: ``[batch, depth]`` tensor for the first cell.
          state: tuple of the cells' states (or their concatenation).
          scope: optional variable scope for the first call.

        Returns:
          ``(output of the last cell, new state)``.

        Raises:
          RuntimeError: in eager mode.
          ValueError: `state` not a tuple of one state per cell.
        """
        validation.assert_graph_mode("MultiRNNCell")
        if self._state_is_tuple and (
                not isinstance(state, (list, tuple))
                or len(state) != len(self._cells)):
            raise ValueError(
                f"Expected state to be a tuple of length {len(self._cells)}, "
                f"but received: {state!r}")
        with self._variable_scope(scope):
            position = 0
            current = inputs
            new_states = []
            for index, cell in enumerate(self._cells):
                with tf.variable_scope(f"cell_{index}"):
                    if self._state_is_tuple:
                        cell_state = state[index]
                    else:
                        size = cell.state_size
                        cell_state = state[:, position:position + size]
                        position += size
                    current, new_state = cell(current, cell_state)
                    new_states.append(new_state)
        if self._state_is_tuple:
            return current, tuple(new_states)
        return current, tf.concat(new_states, axis=1)

    @contextlib.contextmanager
    def _variable_scope(self, scope=None):
        """The stack's variable scope, the same on every call in a graph
        (`scope` or `name` on the first)."""
        with tf.init_scope():
            graph = tf.get_default_graph()
        captured = self._scopes.get(graph)
        if captured is not None:
            var_scope = tf.variable_scope(captured, reuse=True)
        elif scope is not None or self._name is not None:
            var_scope = tf.variable_scope(scope or self._name)
        else:
            var_scope = tf.variable_scope(
                None,
                default_name=unique_default_name(graph, "multi_rnn_cell"))
        with var_scope as entered:
            self._scopes.setdefault(graph, entered)
            yield entered

    def data_init(self, inputs, sequence_length=None, init_scale=1.0,
                  time_major=False):
        """Data init of every weight-normalized cell of the stack, in order.

        Cell i + 1 takes its statistics on the outputs of the initialized
        cells 0..i (each run over the whole sequence), so one run of the op
        initializes the whole stack, as for stacked layers.  Cells without
        ``init_mode`` (not tf1-wn's) are run as they are.

        Args:
          inputs: ``[batch, time, depth]`` (``[time, batch, depth]`` when
            `time_major`) float tensor, the first cell's input.
          sequence_length: optional ``[batch]`` int tensor of valid lengths.
          init_scale: target standard deviation of every cell's input
            projections.
          time_major: layout of `inputs`.

        Returns:
          A `tf.Operation` grouping the cells' init ops (each also in
          `tf1_wn.INIT_OPS`).

        Raises:
          ValueError: no cell of the stack has a data init; otherwise as
            `WeightNormLSTMCell.data_init`.
        """
        return self.init_mode(inputs, sequence_length, init_scale,
                              time_major)[0]

    def init_mode(self, inputs, sequence_length=None, init_scale=1.0,
                  time_major=False):
        """`data_init`, and the stack as it computes after that init.

        Returns:
          ``(op, initialized_stack)``: the init op and a `MultiRNNCell` of
          the initialized cells, sharing this stack's variables.

        Raises:
          As `data_init`.
        """
        validation.assert_graph_mode("MultiRNNCell.data_init")
        ops, initialized = [], []
        current = inputs
        with self._variable_scope():
            for index, cell in enumerate(self._cells):
                with tf.variable_scope(f"cell_{index}") as cell_scope:
                    if hasattr(cell, "init_mode"):
                        op, cell = cell.init_mode(current, sequence_length,
                                                  init_scale, time_major)
                        ops.append(op)
                    initialized.append(cell)
                    if index + 1 < len(self._cells):
                        current, _ = tf.nn.dynamic_rnn(
                            cell, current, sequence_length=sequence_length,
                            dtype=current.dtype, time_major=time_major,
                            scope=cell_scope)
        if not ops:
            raise ValueError(
                f"MultiRNNCell.data_init: none of the cells {self._cells!r} "
                "has a data init (tf1-wn's weight-normalized cells do).")
        stack = MultiRNNCell(initialized, self._state_is_tuple)
        stack._scopes = self._scopes  # pylint: disable=protected-access
        return tf.group(*ops, name="multi_rnn_cell_data_init"), stack

    def __repr__(self):
        return f"MultiRNNCell({self._cells!r})"
