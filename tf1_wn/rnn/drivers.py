"""`dynamic_rnn` and `bidirectional_dynamic_rnn` with an init mode.

With ``init=False`` they are TensorFlow's own functions.  With
``init=True`` they are the init pass of a recurrent model, as
``init=True`` is for a layer: the cell's (or stack's) data init is built,
and the returned outputs are those of the initialized cell, so layers
built on them with ``init=True`` take their statistics on initialized
activations.  One ``session.run(tf1_wn.init_op())`` then initializes the
whole model; TensorFlow runs the ops in dataflow order: cell 0's
statistics and assigns, cell 0 over the sequence with its new values, cell
1's statistics on those outputs, ..., then the layers on top.
"""
from tf1_wn import validation
from tf1_wn._tf import tf


def _init_mode(cell, argument, inputs, sequence_length, init_scale,
               time_major):
    if not hasattr(cell, "init_mode"):
        raise TypeError(
            f"`{argument}` must be a tf1-wn cell (or tf1_wn.MultiRNNCell) "
            f"for init=True, got {cell!r}, which has no data init.")
    return cell.init_mode(inputs, sequence_length, init_scale,
                          time_major)[1]


def dynamic_rnn(cell, inputs, sequence_length=None, initial_state=None,
                dtype=None, parallel_iterations=None, swap_memory=False,
                time_major=False, scope=None, init=False, init_scale=1.0):
    """`tf.compat.v1.nn.dynamic_rnn`, with an init mode.

    Args:
      cell, inputs, sequence_length, initial_state, dtype,
      parallel_iterations, swap_memory, time_major, scope: as
        `tf.compat.v1.nn.dynamic_rnn`.
      init: build the data init of `cell` on `inputs` (every cell of a
        `tf1_wn.MultiRNNCell`, in order) and return the outputs of the
        initialized cell.  The init ops go to `tf1_wn.INIT_OPS`.
      init_scale: target standard deviation of the cells' input
        projections (with `init`).

    Returns:
      ``(outputs, state)``, as `tf.compat.v1.nn.dynamic_rnn`.

    Raises:
      TypeError: ``init=True`` with a cell that has no data init.
      Otherwise as `tf.compat.v1.nn.dynamic_rnn` and `data_init`.
    """
    validation.assert_graph_mode("tf1_wn.dynamic_rnn")
    if init:
        with tf.variable_scope(scope or "rnn") as scope:
            cell = _init_mode(cell, "cell", inputs, sequence_length,
                              init_scale, time_major)
    return tf.nn.dynamic_rnn(
        cell, inputs, sequence_length=sequence_length,
        initial_state=initial_state, dtype=dtype,
        parallel_iterations=parallel_iterations, swap_memory=swap_memory,
        time_major=time_major, scope=scope)


def _reversed(inputs, sequence_length, time_major):
    """The inputs reversed in time (within each sequence's length), as
    `bidirectional_dynamic_rnn` feeds its backward cell."""
    time_axis, batch_axis = (0, 1) if time_major else (1, 0)
    if sequence_length is None:
        return tf.reverse(inputs, [time_axis])
    return tf.reverse_sequence(inputs, sequence_length, seq_axis=time_axis,
                               batch_axis=batch_axis)


def bidirectional_dynamic_rnn(cell_fw, cell_bw, inputs, sequence_length=None,
                              initial_state_fw=None, initial_state_bw=None,
                              dtype=None, parallel_iterations=None,
                              swap_memory=False, time_major=False,
                              scope=None, init=False, init_scale=1.0):
    """`tf.compat.v1.nn.bidirectional_dynamic_rnn`, with an init mode.

    Args:
      cell_fw, cell_bw, inputs, sequence_length, initial_state_fw,
      initial_state_bw, dtype, parallel_iterations, swap_memory,
      time_major, scope: as `tf.compat.v1.nn.bidirectional_dynamic_rnn`.
      init: build the data init of both cells (the backward one on the
        time-reversed inputs it reads) and return the outputs of the
        initialized cells.
      init_scale: target standard deviation (with `init`).

    Returns:
      ``((output_fw, output_bw), (state_fw, state_bw))``.

    Raises:
      TypeError: ``init=True`` with a cell that has no data init.
      Otherwise as `tf.compat.v1.nn.bidirectional_dynamic_rnn`.
    """
    validation.assert_graph_mode("tf1_wn.bidirectional_dynamic_rnn")
    if init:
        with tf.variable_scope(scope or "bidirectional_rnn") as scope:
            with tf.variable_scope("fw"):
                cell_fw = _init_mode(cell_fw, "cell_fw", inputs,
                                     sequence_length, init_scale, time_major)
            with tf.variable_scope("bw"):
                cell_bw = _init_mode(
                    cell_bw, "cell_bw",
                    _reversed(inputs, sequence_length, time_major),
                    sequence_length, init_scale, time_major)
    return tf.nn.bidirectional_dynamic_rnn(
        cell_fw, cell_bw, inputs, sequence_length=sequence_length,
        initial_state_fw=initial_state_fw, initial_state_bw=initial_state_bw,
        dtype=dtype, parallel_iterations=parallel_iterations,
        swap_memory=swap_memory, time_major=time_major, scope=scope)
