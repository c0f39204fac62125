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


@pytest.mark.parametrize("documented_filter", [True, False])
def test_dropout_wrapper_state_filter_for_lstm(graph, rng, documented_filter):
    """docs/rnn.md: DropoutWrapper's default filter does not know
    tf1_wn.LSTMStateTuple and drops c too; the documented filter keeps c."""
    x_value = rng.normal(size=(64, 1, 2))   # one step: c does not see h
    cell = tf1_wn.WeightNormLSTMCell(8)
    keep = tf.placeholder_with_default(tf.constant(1.0, tf.float64), [])
    options = {}
    if documented_filter:
        options["dropout_state_filter_visitor"] = (
            lambda s: tf1_wn.LSTMStateTuple(False, True)
            if isinstance(s, tf1_wn.LSTMStateTuple) else True)
    wrapped = tf.nn.rnn_cell.DropoutWrapper(cell, state_keep_prob=keep,
                                            **options)
    _, state = tf.nn.dynamic_rnn(wrapped, tf.constant(x_value),
                                 dtype=tf.float64)
    with tf.Session() as sess:
        randomize(sess, cell_params("rnn/wn_lstm_cell"), rng)
        full = sess.run(state)
        dropped = sess.run(state, {keep: 0.5})
    assert np.all(full.c != 0.0) and np.all(full.h != 0.0)
    # h: each entry dropped (0) or scaled by 1 / keep.
    assert np.any(dropped.h == 0.0)
    kept = dropped.h != 0.0
    np.testing.assert_allclose(dropped.h[kept], 2 * full.h[kept], rtol=1e-12)
    if documented_filter:
        np.testing.assert_array_equal(dropped.c, full.c)
    else:
        assert np.any(dropped.c == 0.0)
