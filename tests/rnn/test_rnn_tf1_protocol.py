"""The cells follow TF1's RNN cell protocol where TF's own tests pin it
(rnn_cell_test.py, core_rnn_test.py; named in each test): the enclosing
variable scope's initializer for v, ValueError for non-float dtypes,
build(TensorShape), get_initial_state's checks, MultiRNNCell.dtype and the
wrong-state message.

The numbers come from TF's tests of its own cells under a
``constant_initializer(0.5)`` scope; with ``g = 0.5 * sqrt(rows)`` a
weight-normalized kernel whose v is all 0.5 equals that plain kernel, so
the same numbers must come out."""
import numpy as np
import pytest
import tensorflow.compat.v1 as tf

import tf1_wn
from helpers import cell_params


def _set_gains_to_plain_half(sess, scope):
    """g of every projection such that g * v / ||v|| == 0.5 for v = 0.5."""
    for name, var in cell_params(scope).items():
        if name.endswith("/g"):
            rows = cell_params(scope)[name[:-1] + "v"].shape.as_list()[0]
            var.load(np.full(var.shape.as_list(), 0.5 * np.sqrt(rows)), sess)


def test_lstm_takes_the_scope_initializer_and_matches_tf1(graph):
    """DropoutWrapperTest._testDropoutWrapper with everything kept
    (testDropoutWrapperKeepAllConstantInput): outputs 0.751109, 0.895509,
    final c 1.949385."""
    with tf.variable_scope("root",
                           initializer=tf.constant_initializer(0.5)):
        x = tf.constant([[[2., 2., 2.]], [[1., 1., 1.]]])
        m = tf1_wn.LSTMStateTuple(*[tf.constant([[0.1, 0.1, 0.1]])] * 2)
        cell = tf1_wn.WeightNormLSTMCell(3)
        outputs, state = tf.nn.dynamic_rnn(cell, x, initial_state=m,
                                           time_major=True)
    scope = "root/rnn/wn_lstm_cell"
    with tf.Session() as sess:
        sess.run(tf.global_variables_initializer())
        for name, var in cell_params(scope).items():
            if name.endswith("/v"):
                np.testing.assert_array_equal(sess.run(var), 0.5)
        _set_gains_to_plain_half(sess, scope)
        got_outputs, got_state = sess.run([outputs, state])
    np.testing.assert_allclose(
        got_outputs[:, 0], [[0.751109] * 3, [0.895509] * 3], atol=1e-6)
    np.testing.assert_allclose(got_state.c, [[1.949385] * 3], atol=1e-6)


def test_gru_takes_the_scope_initializer_and_matches_tf1(graph):
    """RNNCellTest.testGRUCell: 0.175991."""
    with tf.variable_scope("root",
                           initializer=tf.constant_initializer(0.5)):
        x = tf.placeholder(tf.float32, [1, 2])
        m = tf.placeholder(tf.float32, [1, 2])
        output, _ = tf1_wn.WeightNormGRUCell(2, name="gru")(x, m)
    with tf.Session() as sess:
        sess.run(tf.global_variables_initializer())
        _set_gains_to_plain_half(sess, "root/gru")
        got = sess.run(output, {x: [[1., 1.]], m: [[0.1, 0.1]]})
    np.testing.assert_allclose(got, [[0.175991, 0.175991]], atol=1e-6)


def test_explicit_initializer_beats_the_scope_one(graph):
    with tf.variable_scope("root",
                           initializer=tf.constant_initializer(0.5)):
        cell = tf1_wn.WeightNormRNNCell(
            2, kernel_initializer=tf.constant_initializer(0.25), name="c")
        cell(tf.zeros([1, 3]), tf.zeros([1, 2]))
    params = cell_params("root/c")
    with tf.Session() as sess:
        sess.run(tf.global_variables_initializer())
        assert np.all(sess.run(params["input/v"]) == 0.25)
        assert np.all(sess.run(params["recurrent/v"]) == 0.5)
        assert np.all(sess.run(params["bias"]) == 0.0)  # as TF1: zeros


@pytest.mark.parametrize("make", [
    lambda: tf1_wn.WeightNormLSTMCell(3, dtype=tf.int32),
    lambda: tf1_wn.WeightNormGRUCell(3)(tf.zeros([2, 4], tf.int32),
                                        tf.zeros([2, 3], tf.int32)),
])
def test_int_dtypes_raise_value_error_as_tf(graph, make):
    """rnn_cell_impl._check_supported_dtypes: ValueError (also a TypeError,
    as tf1-wn raised before)."""
    with pytest.raises(ValueError, match="RNN cell only supports floating "
                       "point inputs, but saw dtype: int32"):
        make()
    with pytest.raises(TypeError):
        make()


def test_build_with_a_tensor_shape(graph):
    """Keras / TF1 cells: ``cell.build(TensorShape)`` creates the
    variables; a later call uses them."""
    cell = tf1_wn.WeightNormLSTMCell(4, name="lstm", dtype=tf.float64)
    cell.build(tf.TensorShape([None, 3]))
    shapes = {name: var.shape.as_list()
              for name, var in cell_params("lstm").items()}
    assert shapes == {"input/v": [3, 16], "input/g": [16],
                      "recurrent/v": [4, 16], "recurrent/g": [16],
                      "bias": [16]}
    assert all(v.dtype.base_dtype == tf.float64 for v in cell.variables)
    count = len(tf.global_variables())
    output, _ = cell(tf.zeros([2, 3], tf.float64),
                     cell.zero_state(2, tf.float64))
    assert len(tf.global_variables()) == count
    assert output.shape.as_list() == [2, 4]
    with pytest.raises(ValueError, match="built for input depth 3"):
        cell(tf.zeros([2, 5], tf.float64), cell.zero_state(2, tf.float64))


@pytest.mark.parametrize("make", [
    lambda: tf1_wn.WeightNormGRUCell(3),
    lambda: tf1_wn.MultiRNNCell([tf1_wn.WeightNormLSTMCell(2),
                                 tf1_wn.WeightNormGRUCell(3)]),
])
def test_get_initial_state_checks_as_tf(graph, make):
    """RNNCell.get_initial_state's consistency checks and messages."""
    cell = make()
    inputs = tf.zeros([4, 5])
    state = cell.get_initial_state(inputs=inputs)
    assert [s.shape.as_list() for s in tf.nest.flatten(state)] == [
        [4, size] for size in tf.nest.flatten(cell.state_size)]
    with pytest.raises(ValueError, match="batch size from input tensor is "
                       "different from the input param"):
        cell.get_initial_state(inputs=inputs, batch_size=3)
    with pytest.raises(ValueError, match="dtype from input tensor is "
                       "different from the input param"):
        cell.get_initial_state(inputs=inputs, dtype=tf.float64)
    with pytest.raises(ValueError, match="batch_size and dtype cannot be "
                       "None"):
        cell.get_initial_state(batch_size=4)
    state = cell.get_initial_state(batch_size=tf.constant(6),
                                   dtype=tf.float64)
    assert all(s.dtype == tf.float64 for s in tf.nest.flatten(state))


def test_multi_rnn_cell_dtype(graph):
    assert tf1_wn.MultiRNNCell([tf1_wn.WeightNormRNNCell(2)]).dtype is None
    assert tf1_wn.MultiRNNCell([
        tf1_wn.WeightNormRNNCell(2),
        tf1_wn.WeightNormGRUCell(2, dtype=tf.float64)]).dtype == tf.float64


def test_wrong_states_raise_tf_messages(graph):
    """RNNCellTest.testMultiRNNCellWithStateTuple: "Expected state .* a
    tuple"; a single cell says the same of its own structure."""
    x = tf.zeros([1, 2])
    m_bad = tf.zeros([1, 4])
    with pytest.raises(ValueError, match="Expected state .* a tuple"):
        tf1_wn.MultiRNNCell([tf1_wn.WeightNormGRUCell(2)
                             for _ in range(2)])(x, m_bad)
    with pytest.raises(ValueError, match="Expected state to be a "
                       "LSTMStateTuple of sizes"):
        tf1_wn.WeightNormLSTMCell(2)(x, m_bad)
    with pytest.raises(ValueError, match="Expected state to be one tensor"):
        tf1_wn.WeightNormGRUCell(2)(x, (m_bad, m_bad))
