"""RNN drivers, variable sharing and scopes, hoisting, errors."""
import numpy as np
import pytest
import tensorflow.compat.v1 as tf
from tensorflow.python.eager import context

import tf1_wn
from helpers import CELL_KINDS as KINDS
from helpers import cell_params, control_flow, make_cell, randomize
from reference import run_rnn as run_reference


def test_variables_and_shapes_as_the_contract(graph):
    x = tf.zeros([2, 3, 7])
    for kind in KINDS:
        tf.nn.dynamic_rnn(make_cell(kind, 5), x, dtype=tf.float32)
    shapes = {v.op.name: v.shape.as_list() for v in tf.global_variables()}
    assert shapes == {
        "rnn/wn_rnn_cell/input/v": [7, 5], "rnn/wn_rnn_cell/input/g": [5],
        "rnn/wn_rnn_cell/recurrent/v": [5, 5],
        "rnn/wn_rnn_cell/recurrent/g": [5], "rnn/wn_rnn_cell/bias": [5],
        "rnn/wn_gru_cell/gates/input/v": [7, 10],
        "rnn/wn_gru_cell/gates/input/g": [10],
        "rnn/wn_gru_cell/gates/recurrent/v": [5, 10],
        "rnn/wn_gru_cell/gates/recurrent/g": [10],
        "rnn/wn_gru_cell/gates/bias": [10],
        "rnn/wn_gru_cell/candidate/input/v": [7, 5],
        "rnn/wn_gru_cell/candidate/input/g": [5],
        "rnn/wn_gru_cell/candidate/recurrent/v": [5, 5],
        "rnn/wn_gru_cell/candidate/recurrent/g": [5],
        "rnn/wn_gru_cell/candidate/bias": [5],
        "rnn/wn_lstm_cell/input/v": [7, 20], "rnn/wn_lstm_cell/input/g": [20],
        "rnn/wn_lstm_cell/recurrent/v": [5, 20],
        "rnn/wn_lstm_cell/recurrent/g": [20], "rnn/wn_lstm_cell/bias": [20],
    }
    with tf.Session() as sess:
        sess.run(tf.global_variables_initializer())
        gru = cell_params("rnn/wn_gru_cell")
        gates_bias, cand_bias = sess.run(
            [gru["gates/bias"], gru["candidate/bias"]])
    assert np.all(gates_bias == 1.0) and np.all(cand_bias == 0.0)


def test_one_cell_twice_shares_two_cells_never_collide(graph):
    x = tf.random_normal([2, 3, 4])
    cell = tf1_wn.WeightNormLSTMCell(3)
    out_a, _ = tf.nn.dynamic_rnn(cell, x, dtype=tf.float32)
    out_b, _ = tf.nn.dynamic_rnn(cell, x, dtype=tf.float32, scope="other")
    assert len(tf.global_variables()) == 5
    tf.nn.dynamic_rnn(tf1_wn.WeightNormLSTMCell(3), x, dtype=tf.float32)
    tf.nn.dynamic_rnn(tf1_wn.WeightNormLSTMCell(3, name="enc"), x,
                      dtype=tf.float32)
    scopes = sorted({v.op.name.rsplit("/", 2)[0] if "/input/" in v.op.name
                     or "/recurrent/" in v.op.name else
                     v.op.name.rsplit("/", 1)[0]
                     for v in tf.global_variables()})
    assert scopes == ["other/enc", "rnn/wn_lstm_cell", "rnn/wn_lstm_cell_1"] \
        or scopes == ["rnn/enc", "rnn/wn_lstm_cell", "rnn/wn_lstm_cell_1"]
    with tf.Session() as sess:
        sess.run(tf.global_variables_initializer())
        a, b = sess.run([out_a, out_b])
    np.testing.assert_allclose(a, b, rtol=1e-6)


# The op that computes a norm: Rsqrt on composed ops, the fused kernel of
# tf1_wn.native_ops otherwise.
NORM_OPS = {"Rsqrt", "Tf1WnNormalizeWeight"}


def test_normalized_kernels_are_computed_outside_the_loop(graph):
    x = tf.random_normal([2, 6, 4])
    cells = [make_cell(kind, 3) for kind in KINDS]
    for cell in cells:
        tf.nn.dynamic_rnn(cell, x, dtype=tf.float32)
    # No norm op inside a loop body, v1 context or v2 function.
    body_ops = [node.op for function in graph._functions.values()
                for node in function.definition.node_def]
    assert not NORM_OPS & set(body_ops)
    if tf.control_flow_v2_enabled():
        assert "MatMul" in body_ops
    norms = [op for op in graph.get_operations() if op.type in NORM_OPS]
    assert len(norms) == 2 * 4  # input and recurrent of 4 projections
    assert all(op._control_flow_context is None for op in norms)


def test_control_flow_v1_also_hoists(rng):
    with control_flow("v1"), tf.Graph().as_default() as graph:
        x_value = rng.normal(size=(2, 4, 3))
        cell = tf1_wn.WeightNormGRUCell(3)
        outputs, _ = tf.nn.dynamic_rnn(cell, tf.constant(x_value),
                                       dtype=tf.float64)
        grads = tf.gradients(outputs, tf.trainable_variables())
        norms = [op for op in graph.get_operations()
                 if op.type in NORM_OPS and "gradients" not in op.name]
        assert norms and all(op._control_flow_context is None
                             for op in norms)
        assert all(g is not None for g in grads)
        with tf.Session() as sess:
            params = randomize(sess, cell_params("rnn/wn_gru_cell"), rng)
            got = sess.run(outputs)
    np.testing.assert_allclose(
        got, run_reference("gru", params, x_value, 3)[0], rtol=1e-10)


@pytest.mark.parametrize("kind", KINDS)
def test_time_major_bidirectional_static_and_raw_rnn(graph, rng, kind):
    batch, steps, depth, n = 3, 4, 2, 3
    x_value = rng.normal(size=(batch, steps, depth))
    lengths = np.array([4, 1, 3])
    fw, bw = make_cell(kind, n), make_cell(kind, n)
    x = tf.constant(x_value)
    time_major, _ = tf.nn.dynamic_rnn(
        fw, tf.transpose(x, [1, 0, 2]), sequence_length=lengths,
        time_major=True, dtype=tf.float64)
    (bi_fw, bi_bw), _ = tf.nn.bidirectional_dynamic_rnn(
        fw, bw, x, sequence_length=lengths, dtype=tf.float64)
    static, _ = tf.nn.static_rnn(fw, tf.unstack(x, axis=1),
                                 sequence_length=lengths, dtype=tf.float64)

    inputs_ta = tf.TensorArray(tf.float64, steps).unstack(
        tf.transpose(x, [1, 0, 2]))

    def loop_fn(time, cell_output, cell_state, loop_state):
        if cell_output is None:
            next_state = fw.zero_state(batch, tf.float64)
            emit = None
        else:
            next_state, emit = cell_state, cell_output
        finished = time >= lengths
        next_input = tf.cond(
            tf.reduce_all(finished), lambda: tf.zeros([batch, depth],
                                                      tf.float64),
            lambda: inputs_ta.read(tf.minimum(time, steps - 1)))
        return finished, next_input, next_state, emit, None

    raw_ta, _, _ = tf.nn.raw_rnn(fw, loop_fn)
    raw = tf.transpose(raw_ta.stack(), [1, 0, 2])

    # fw was first built by the time-major call under "rnn": every driver
    # reuses those variables; bw gets its own under bidirectional_rnn/bw.
    fw_vars = cell_params("rnn/wn_%s_cell" % kind)
    bw_vars = cell_params("bidirectional_rnn/bw/wn_%s_cell" % kind)
    assert len(tf.global_variables()) == len(fw_vars) + len(bw_vars)
    with tf.Session() as sess:
        fw_p = randomize(sess, fw_vars, rng)
        bw_p = randomize(sess, bw_vars, rng)
        got = sess.run([time_major, bi_fw, bi_bw, static, raw])
    want, _ = run_reference(kind, fw_p, x_value, n, lengths)
    reversed_x = np.stack([np.concatenate([x_value[b, :l][::-1],
                                           x_value[b, l:]])
                           for b, l in enumerate(lengths)])
    want_bw, _ = run_reference(kind, bw_p, reversed_x, n, lengths)
    want_bw = np.stack([np.concatenate([want_bw[b, :l][::-1], want_bw[b, l:]])
                        for b, l in enumerate(lengths)])
    np.testing.assert_allclose(np.transpose(got[0], [1, 0, 2]), want,
                               rtol=1e-10, atol=1e-12)
    np.testing.assert_allclose(got[1], want, rtol=1e-10, atol=1e-12)
    np.testing.assert_allclose(got[2], want_bw, rtol=1e-10, atol=1e-12)
    np.testing.assert_allclose(np.stack(got[3], 1), want, rtol=1e-10,
                               atol=1e-12)
    mask = (np.arange(steps)[None, :] < lengths[:, None])[..., None]
    np.testing.assert_allclose(got[4] * mask, want, rtol=1e-10, atol=1e-12)


def test_zero_state_and_sizes(graph):
    lstm = tf1_wn.WeightNormLSTMCell(4)
    assert lstm.state_size == (4, 4) and lstm.output_size == 4
    state = lstm.zero_state(3, tf.float64)
    assert isinstance(state, tf1_wn.LSTMStateTuple)
    assert state.c.shape.as_list() == [3, 4] and state.dtype == tf.float64
    batch = tf.placeholder(tf.int32, [])
    gru_state = tf1_wn.WeightNormGRUCell(2).zero_state(batch, tf.float32)
    multi = tf1_wn.MultiRNNCell([lstm, tf1_wn.WeightNormRNNCell(2)])
    assert multi.state_size == ((4, 4), 2) and multi.output_size == 2
    flat = tf1_wn.MultiRNNCell(
        [tf1_wn.WeightNormLSTMCell(4, state_is_tuple=False),
         tf1_wn.WeightNormRNNCell(2)], state_is_tuple=False)
    assert flat.state_size == 10
    with tf.Session() as sess:
        assert sess.run(gru_state, {batch: 5}).shape == (5, 2)


def test_multi_rnn_cell_flat_state_runs(graph, rng):
    cells = [tf1_wn.WeightNormRNNCell(3), tf1_wn.WeightNormRNNCell(2)]
    multi = tf1_wn.MultiRNNCell(cells, state_is_tuple=False)
    x_value = rng.normal(size=(2, 3, 4))
    outputs, final = tf.nn.dynamic_rnn(multi, tf.constant(x_value),
                                       dtype=tf.float64)
    first = cell_params("rnn/multi_rnn_cell/cell_0/wn_rnn_cell")
    second = cell_params("rnn/multi_rnn_cell/cell_1/wn_rnn_cell")
    with tf.Session() as sess:
        p0, p1 = randomize(sess, first, rng), randomize(sess, second, rng)
        got_out, got_final = sess.run([outputs, final])
    mid, s0 = run_reference("rnn", p0, x_value, 3)
    want, s1 = run_reference("rnn", p1, mid, 2)
    np.testing.assert_allclose(got_out, want, rtol=1e-10)
    np.testing.assert_allclose(got_final, np.concatenate([s0, s1], 1),
                               rtol=1e-10)


def test_errors_name_the_argument(graph):
    cell = tf1_wn.WeightNormLSTMCell(3)
    state = cell.zero_state(2, tf.float32)
    with pytest.raises(ValueError, match="`inputs` must have rank 2"):
        cell(tf.zeros([2, 3, 4]), state)
    with pytest.raises(ValueError, match="channel dimension.*`inputs`"):
        cell(tf.placeholder(tf.float32, [2, None]), state)
    with pytest.raises(TypeError, match="`inputs` of .*floating point inputs"):
        cell(tf.zeros([2, 4], tf.int32), state)
    with pytest.raises(TypeError, match="holds float32 variables, got "
                       "`inputs` of dtype float16"):
        cell(tf.zeros([2, 4]), state)
        cell(tf.zeros([2, 4], tf.float16), state)
    cell(tf.zeros([2, 4]), state)
    with pytest.raises(ValueError, match="built for input depth 4"):
        cell(tf.zeros([2, 5]), state)
    with pytest.raises(ValueError, match="`num_units`.*got 0"):
        tf1_wn.WeightNormGRUCell(0)
    with pytest.raises(TypeError, match="`dtype`.*int32"):
        tf1_wn.WeightNormRNNCell(3, dtype=tf.int32)
    with pytest.raises(TypeError, match="`activation`"):
        tf1_wn.WeightNormRNNCell(3, activation="tanh")
    typed = tf1_wn.WeightNormRNNCell(3, dtype=tf.float64)
    with pytest.raises(TypeError, match="dtype=float64.*float32"):
        typed(tf.zeros([2, 4]), tf.zeros([2, 3]))
    with pytest.raises(ValueError, match="at least one cell"):
        tf1_wn.MultiRNNCell([])
    with pytest.raises(TypeError, match=r"`cells\[1\]`"):
        tf1_wn.MultiRNNCell([cell, object()])
    with pytest.raises(ValueError, match="state_is_tuple=False"):
        tf1_wn.MultiRNNCell([tf1_wn.WeightNormLSTMCell(2)],
                            state_is_tuple=False)
    with pytest.raises(ValueError, match="`inputs` must have rank 3"):
        cell.data_init(tf.zeros([2, 4]))


def test_eager_mode_raises_runtime_error():
    with context.eager_mode():
        cell = tf1_wn.WeightNormRNNCell(2)
        with pytest.raises(RuntimeError, match="graph mode|disable_eager"):
            cell(tf.zeros([1, 3]), tf.zeros([1, 2]))
        with pytest.raises(RuntimeError, match="disable_eager"):
            cell.data_init(tf.zeros([1, 2, 3]))
