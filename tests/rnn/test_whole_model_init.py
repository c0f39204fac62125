"""One run of the init op initializes a whole recurrent model: stacked
cells, bidirectional cells and the layers after them, each on initialized
activations; cells with ``ema=`` read the shadows."""
import os

import numpy as np
import pytest
import tensorflow.compat.v1 as tf

import tf1_wn


def _unit_projection(x, v):
    """float64: x . v / ||v|| (the library's eps in the norm)."""
    return x @ (v / np.sqrt((v ** 2).sum(0) + tf1_wn.DEFAULT_EPS))


def _check_moments(t, scale=1.0):
    np.testing.assert_allclose(t.mean(0), 0, atol=1e-9)
    # std = scale / sqrt(1 + DATA_INIT_EPS / var): 1e-6 off for var 0.005
    np.testing.assert_allclose(t.std(0), scale, rtol=1e-5)


def _values(sess, cell):
    """The cell's variable values by name inside the cell's scope
    (``input/v``, ``gates/bias`` ...)."""
    names = [v.op.name for v in cell.variables]
    scope = os.path.commonprefix(names).rsplit("/", 1)[0] + "/"
    return {v.op.name[len(scope):]: sess.run(v) for v in cell.variables}


def _initialized_projections(values, x_valid):
    """float64: every projection's input part after init, on `x_valid`."""
    prefixes = ["gates/", "candidate/"] if "gates/bias" in values else [""]
    return [_unit_projection(x_valid, values[p + "input/v"])
            * values[p + "input/g"] + values[p + "bias"] for p in prefixes]


def _valid(x, lengths):
    return np.concatenate([x[i, :n] for i, n in enumerate(lengths)])


@pytest.fixture
def batch(rng):
    x = rng.normal(size=(5, 6, 3)) * 1.5 + 0.3
    lengths = np.array([6, 3, 1, 6, 4], np.int32)
    return x, lengths


def test_dense_head_on_dynamic_rnn_in_one_run(graph, batch):
    x, lengths = batch
    cell = tf1_wn.WeightNormLSTMCell(4)
    outputs, _ = tf1_wn.dynamic_rnn(cell, tf.constant(x), lengths,
                                    dtype=tf.float64, init=True)
    head = tf1_wn.dense(outputs, 3, init=True, init_scale=0.5, scope="head")
    plain, _ = tf.nn.dynamic_rnn(cell, tf.constant(x), lengths,
                                 dtype=tf.float64)
    plain_head = tf1_wn.dense(plain, 3, scope="head")
    with tf.Session() as sess:
        sess.run(tf.global_variables_initializer())
        sess.run(tf1_wn.init_op())
        got, init_out = sess.run([plain_head, head])
        variables = _values(sess, cell)
        seq = sess.run(plain)
    t = _unit_projection(_valid(x, lengths), variables["input/v"])
    _check_moments(t * variables["input/g"] + variables["bias"])
    # positions past the length are zeros in dynamic_rnn's output, and
    # count in the head's batch as in any dense layer on that tensor
    _check_moments(got.reshape(-1, 3), 0.5)
    np.testing.assert_allclose(got, init_out, rtol=1e-10, atol=1e-10)
    assert np.abs(seq[2, 1:]).max() == 0


def _ancestors(op):
    seen, stack = set(), [op]
    while stack:
        node = stack.pop()
        if node.name not in seen:
            seen.add(node.name)
            stack.extend(t.op for t in node.inputs)
            stack.extend(node.control_inputs)
    return seen


def test_without_the_init_mode_the_head_is_off(graph, batch):
    """What tf1_wn.dynamic_rnn(init=True) fixes: after cell.data_init and a
    plain dynamic_rnn, the head's init reads the cell's variables and
    nothing orders that read after the cell's assigns.  Run in the order
    one sess.run may pick (the head first), the head is initialized on the
    pre-init cell outputs and is off once the cell is initialized."""
    x, _ = batch
    cell = tf1_wn.WeightNormLSTMCell(4)
    cell_init = cell.data_init(tf.constant(x))
    outputs, _ = tf.nn.dynamic_rnn(cell, tf.constant(x), dtype=tf.float64)
    tf1_wn.dense(outputs, 3, init=True, scope="head")
    head_init = tf1_wn.init_op(scope="head")
    plain = tf1_wn.dense(outputs, 3, scope="head")
    assert not {op.name for op in cell_init.control_inputs} & _ancestors(
        head_init)
    with tf.Session() as sess:
        sess.run(tf.global_variables_initializer())
        sess.run(head_init)
        on_pre_init_cell = sess.run(plain).reshape(-1, 3)
        sess.run(cell_init)
        got = sess.run(plain).reshape(-1, 3)
    np.testing.assert_allclose(on_pre_init_cell.std(0), 1, rtol=1e-4)
    assert np.abs(got.std(0) - 1).max() > 1e-3


@pytest.mark.parametrize("cell_class", [tf1_wn.WeightNormLSTMCell,
                                        tf1_wn.WeightNormGRUCell,
                                        tf1_wn.WeightNormRNNCell])
def test_multi_rnn_cell_data_init_initializes_each_cell_in_order(
        graph, batch, cell_class):
    x, lengths = batch
    cells = [cell_class(5), cell_class(4)]
    stack = tf1_wn.MultiRNNCell(cells)
    op = stack.data_init(tf.constant(x), lengths, init_scale=0.7)
    outputs, _ = tf.nn.dynamic_rnn(stack, tf.constant(x), lengths,
                                   dtype=tf.float64)
    first, _ = tf.nn.dynamic_rnn(cells[0], tf.constant(x), lengths,
                                 dtype=tf.float64, scope="first")
    names = sorted(v.op.name for v in tf.global_variables())
    assert all(n.startswith("multi_rnn_cell/cell_") for n in names), names
    with tf.Session() as sess:
        sess.run(tf.global_variables_initializer())
        sess.run(op)
        sess.run(outputs)
        layer_1 = sess.run(first)
        v0, v1 = _values(sess, cells[0]), _values(sess, cells[1])
    for t in _initialized_projections(v0, _valid(x, lengths)):
        _check_moments(t, 0.7)
    for t in _initialized_projections(v1, _valid(layer_1, lengths)):
        _check_moments(t, 0.7)


def test_bidirectional_stacks_and_a_head_in_one_run(graph, batch):
    x, lengths = batch
    fw = tf1_wn.MultiRNNCell([tf1_wn.WeightNormLSTMCell(4),
                              tf1_wn.WeightNormLSTMCell(3)])
    bw = tf1_wn.MultiRNNCell([tf1_wn.WeightNormGRUCell(4),
                              tf1_wn.WeightNormGRUCell(3)])
    xs = tf.constant(x)
    (out_fw, out_bw), _ = tf1_wn.bidirectional_dynamic_rnn(
        fw, bw, xs, lengths, dtype=tf.float64, init=True)
    tf1_wn.dense(tf.concat([out_fw, out_bw], 2), 2, init=True, scope="head")
    (p_fw, p_bw), _ = tf.nn.bidirectional_dynamic_rnn(
        fw, bw, xs, lengths, dtype=tf.float64)
    head = tf1_wn.dense(tf.concat([p_fw, p_bw], 2), 2, scope="head")
    reversed_x = tf.reverse_sequence(xs, lengths, seq_axis=1, batch_axis=0)
    bw_first, _ = tf.nn.dynamic_rnn(bw.cells[0], reversed_x, lengths,
                                    dtype=tf.float64, scope="probe")
    names = {v.op.name.split("/")[1] for v in tf.global_variables()
             if v.op.name.startswith("bidirectional_rnn/")}
    assert names == {"fw", "bw"}
    with tf.Session() as sess:
        sess.run(tf.global_variables_initializer())
        sess.run(tf1_wn.init_op())
        got = sess.run(head).reshape(-1, 2)
        layer_1 = sess.run(bw_first)
        second = _values(sess, bw.cells[1])
    _check_moments(got)
    for t in _initialized_projections(second, _valid(layer_1, lengths)):
        _check_moments(t)


def test_towers_of_a_recurrent_model(rng):
    """build_towers with dynamic_rnn(init=True) and a head: pooled over
    the towers, the same values as one init over the whole batch."""
    x = rng.normal(size=(6, 4, 3))

    def run(towers):
        with tf.Graph().as_default():
            tf.set_random_seed(5)
            cell = tf1_wn.WeightNormLSTMCell(4, name="lstm")

            def model(inputs, init=False):
                out, _ = tf1_wn.dynamic_rnn(cell, inputs, dtype=tf.float64,
                                            init=init)
                return tf1_wn.dense(out, 2, init=init, scope="head")
            xs = tf.constant(x)
            if towers:
                tf1_wn.build_towers(lambda part: model(part, init=True),
                                    tf.split(xs, towers))
            else:
                model(xs, init=True)
            with tf.Session() as sess:
                sess.run(tf.global_variables_initializer())
                sess.run(tf1_wn.init_op())
                return {v.op.name: sess.run(v) for v in tf.global_variables()}
    want, got = run(0), run(3)
    assert sorted(got) == sorted(want)
    for name in want:
        np.testing.assert_allclose(got[name], want[name], rtol=1e-12,
                                   atol=1e-12, err_msg=name)
    # float64 NumPy: the cell's input projection over the whole batch
    v = got["rnn/lstm/input/v"]
    t = _unit_projection(x.reshape(-1, 3), v)
    _check_moments(t * got["rnn/lstm/input/g"] + got["rnn/lstm/bias"])


def test_cell_with_ema_reads_the_shadows(graph, rng):
    x = tf.constant(rng.normal(size=(2, 3, 3)))
    cell = tf1_wn.WeightNormLSTMCell(4, name="lstm")
    outputs, _ = tf.nn.dynamic_rnn(cell, x, dtype=tf.float64)
    ema = tf.train.ExponentialMovingAverage(0.9)
    ema.apply(cell.variables)
    averaged_cell = tf1_wn.WeightNormLSTMCell(4, name="lstm", ema=ema)
    averaged, _ = tf.nn.dynamic_rnn(averaged_cell, x, dtype=tf.float64)
    assert averaged_cell.variables == cell.variables  # reused, not new
    with tf.Session() as sess:
        sess.run(tf.global_variables_initializer())
        shadows = {}
        for var in cell.variables:
            value = rng.normal(size=var.shape.as_list())
            shadows[var] = value
            sess.run(ema.average(var).assign(value))
        got = sess.run(averaged)
        for var, value in shadows.items():
            sess.run(var.assign(value))
        want = sess.run(outputs)
    np.testing.assert_allclose(got, want, rtol=1e-12, atol=1e-12)


def test_ema_cell_errors(graph):
    x = tf.zeros([2, 3, 3])
    ema = tf.train.ExponentialMovingAverage(0.9)
    with pytest.raises(TypeError, match="ExponentialMovingAverage"):
        tf1_wn.WeightNormGRUCell(4, ema=0.9)
    with pytest.raises(ValueError, match="trained cell's `name`"):
        tf.nn.dynamic_rnn(tf1_wn.WeightNormGRUCell(4, ema=ema), x,
                          dtype=tf.float32)
    cell = tf1_wn.WeightNormRNNCell(4, name="r")
    tf.nn.dynamic_rnn(cell, x, dtype=tf.float32)
    ema.apply(cell.variables)
    with pytest.raises(ValueError, match="reads the EMA shadows"):
        tf1_wn.WeightNormRNNCell(4, name="r", ema=ema).data_init(x)
    with pytest.raises(TypeError, match="has no data init"):
        tf1_wn.dynamic_rnn(lambda i, s: (i, s), x, init=True)
