"""The cells inside tf.compat.v1.nn.rnn_cell wrappers (tf-keras only).

Run by `make test-legacy-keras` (tf-keras installed, TF_USE_LEGACY_KERAS=1);
skipped in the default Keras 3 run.
"""
import numpy as np
import pytest
import tensorflow.compat.v1 as tf

import tf1_wn
from helpers import cell_params, check_lstm_gru_stack, randomize
from reference import run_rnn as run_reference

pytestmark = pytest.mark.legacy_keras


def test_legacy_multi_rnn_cell_stacks_wn_cells(graph, rng):
    check_lstm_gru_stack(tf.nn.rnn_cell.MultiRNNCell(
        [tf1_wn.WeightNormLSTMCell(4), tf1_wn.WeightNormGRUCell(3)]), rng)


def test_legacy_dropout_wrapper_around_wn_cell(graph, rng):
    x_value = rng.normal(size=(4, 3, 2))
    cell = tf1_wn.WeightNormRNNCell(3)
    keep = tf.placeholder_with_default(tf.constant(1.0, tf.float64), [])
    wrapped = tf.nn.rnn_cell.DropoutWrapper(cell, output_keep_prob=keep)
    outputs, _ = tf.nn.dynamic_rnn(wrapped, tf.constant(x_value),
                                   dtype=tf.float64)
    grads = tf.gradients(tf.reduce_sum(outputs), tf.trainable_variables())
    variables = cell_params("rnn/wn_rnn_cell")
    assert len(variables) == 5 and all(g is not None for g in grads)
    with tf.Session() as sess:
        params = randomize(sess, variables, rng)
        full = sess.run(outputs)
        dropped = sess.run(outputs, {keep: 0.5})
    np.testing.assert_allclose(full, run_reference("rnn", params, x_value,
                                                   3)[0], rtol=1e-10)
    assert np.any(dropped == 0.0)
    nonzero = dropped != 0.0
    np.testing.assert_allclose(dropped[nonzero], 2 * full[nonzero],
                               rtol=1e-10)


def test_lstm_state_tuple_is_tf1s_class():
    assert tf1_wn.LSTMStateTuple is tf.nn.rnn_cell.LSTMStateTuple


def test_dropout_wrapper_keeps_lstm_memory_by_default(graph, rng):
    """DropoutWrapper's default state filter keeps ``c`` of TF1's
    LSTMStateTuple, which the WN LSTM's state is."""
    x_value = rng.normal(size=(64, 1, 2))
    cell = tf1_wn.WeightNormLSTMCell(8)
    keep = tf.placeholder_with_default(tf.constant(1.0, tf.float64), [])
    wrapped = tf.nn.rnn_cell.DropoutWrapper(cell, state_keep_prob=keep)
    _, state = tf.nn.dynamic_rnn(wrapped, tf.constant(x_value),
                                 dtype=tf.float64)
    with tf.Session() as sess:
        randomize(sess, cell_params("rnn/wn_lstm_cell"), rng)
        full = sess.run(state)
        dropped = sess.run(state, {keep: 0.5})
    assert np.all(full.c != 0.0) and np.all(full.h != 0.0)
    assert np.any(dropped.h == 0.0)  # h: dropped (0) or scaled by 1 / keep
    kept = dropped.h != 0.0
    np.testing.assert_allclose(dropped.h[kept], 2 * full.h[kept], rtol=1e-12)
    np.testing.assert_array_equal(dropped.c, full.c)


def test_dropout_wrapper_keep_no_state_except_lstm_cell_memory(graph):
    """TF's DropoutWrapperTest.testDropoutWrapperKeepNoStateExceptLSTMCell
    Memory, with the WN LSTM made equal to TF1's LSTMCell(3) under
    constant_initializer(0.5) (g = 0.5 * sqrt(rows)): c = 1.713925, h = 0,
    first output 0.751109."""
    with tf.variable_scope("root",
                           initializer=tf.constant_initializer(0.5)):
        keep_all = tf.get_variable("all", initializer=1.0)
        keep_none = tf.get_variable("none", initializer=1e-10)
        x = tf.constant([[[2., 2., 2.]], [[1., 1., 1.]]])
        m = tf1_wn.LSTMStateTuple(*[tf.constant([[0.1, 0.1, 0.1]])] * 2)
        cell = tf1_wn.WeightNormLSTMCell(3)
        outputs, state = tf.nn.dynamic_rnn(
            tf.nn.rnn_cell.DropoutWrapper(
                cell, input_keep_prob=keep_all, output_keep_prob=keep_all,
                state_keep_prob=keep_none, dtype=tf.float32),
            x, initial_state=m, time_major=True)
    with tf.Session() as sess:
        sess.run(tf.global_variables_initializer())
        params = cell_params("root/rnn/dropout_wrapper/wn_lstm_cell") or \
            cell_params("root/rnn/wn_lstm_cell")
        for name, var in params.items():
            if name.endswith("/g"):
                rows = params[name[:-1] + "v"].shape.as_list()[0]
                var.load(np.full(var.shape.as_list(), 0.5 * np.sqrt(rows)),
                         sess)
        got_outputs, got_state = sess.run([outputs, state])
    np.testing.assert_allclose(got_outputs[0], [[0.751109] * 3], atol=1e-6)
    assert np.linalg.norm(got_outputs[1] - 0.895509) > 1e-4
    np.testing.assert_allclose(got_state.h, 0.0)
    np.testing.assert_allclose(got_state.c, [[1.713925] * 3], atol=1e-6)
