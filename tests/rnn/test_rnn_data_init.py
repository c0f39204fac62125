"""cell.data_init: statistics over valid positions, exact, re-runnable."""
import numpy as np
import pytest
import tensorflow.compat.v1 as tf

import tf1_wn
from helpers import CELL_KINDS as KINDS
from helpers import cell_params, make_cell, randomize
from reference import cell_weight_norm as wn

PROJECTIONS = {"rnn": [""], "lstm": [""], "gru": ["gates/", "candidate/"]}


def valid_rows(x, lengths):
    return np.concatenate([x[b, :l] for b, l in enumerate(lengths)])


@pytest.mark.parametrize("kind", KINDS)
@pytest.mark.parametrize("time_major", [False, True])
def test_input_projection_has_mean_0_std_scale_on_valid_positions(
        graph, rng, kind, time_major):
    batch, steps, depth, n, scale = 5, 7, 4, 3, 0.8
    x_value = rng.normal(1.5, 2.0, (batch, steps, depth))
    lengths = np.array([7, 3, 5, 1, 6])
    padded = x_value.copy()
    for b, l in enumerate(lengths):
        padded[b, l:] = 1e3 * rng.normal(size=(steps - l, depth))
    x = tf.placeholder(tf.float64, [None, None, depth])
    seq = tf.placeholder(tf.int32, [None])
    cell = make_cell(kind, n)
    init = cell.data_init(x, sequence_length=seq, init_scale=scale,
                          time_major=time_major)
    outputs, _ = tf.nn.dynamic_rnn(cell, x, sequence_length=seq,
                                   time_major=time_major, dtype=tf.float64)
    assert init in tf.get_collection(tf1_wn.INIT_OPS)
    # data_init came first, at the top level: the scope is the cell's own.
    variables = cell_params("wn_%s_cell" % kind)
    feed = {x: np.transpose(padded, [1, 0, 2]) if time_major else padded,
            seq: lengths}
    with tf.Session() as sess:
        before = randomize(sess, variables, rng)
        sess.run(init, feed)
        after = sess.run(variables)
        sess.run(outputs, feed)
        # Scramble g and bias, re-run: the same values come back.
        randomize(sess, {k: v for k, v in variables.items()
                         if k.endswith("input/g") or k.endswith("bias")}, rng)
        sess.run(init, feed)
        again = sess.run(variables)
    rows = valid_rows(x_value, lengths)
    for prefix in PROJECTIONS[kind]:
        t = rows @ wn(after[prefix + "input/v"], after[prefix + "input/g"]) \
            + after[prefix + "bias"]
        np.testing.assert_allclose(t.mean(0), 0.0, atol=1e-9)
        np.testing.assert_allclose(t.std(0), scale, rtol=1e-5)
    for name in variables:
        np.testing.assert_allclose(again[name], after[name], rtol=1e-9,
                                   err_msg=name)
        if name.endswith("/v") or name.endswith("recurrent/g"):
            np.testing.assert_array_equal(after[name], before[name])
        else:
            assert not np.allclose(after[name], before[name]), name


def test_init_op_groups_cell_data_init_and_float32(graph, rng):
    x_value = rng.normal(-1.0, 3.0, (6, 5, 3)).astype(np.float32)
    cell = tf1_wn.WeightNormLSTMCell(4)
    outputs, _ = tf.nn.dynamic_rnn(cell, tf.constant(x_value),
                                   dtype=tf.float32)
    cell.data_init(tf.constant(x_value))
    init = tf1_wn.init_op()
    variables = cell_params("rnn/wn_lstm_cell")
    with tf.Session() as sess:
        sess.run(tf.global_variables_initializer())
        sess.run(init)
        values = sess.run(variables)
        assert np.all(np.isfinite(sess.run(outputs)))
    t = x_value.reshape(-1, 3).astype(np.float64) @ wn(
        values["input/v"], values["input/g"]) + values["bias"]
    np.testing.assert_allclose(t.mean(0), 0.0, atol=1e-5)
    np.testing.assert_allclose(t.std(0), 1.0, rtol=1e-4)


def test_data_init_rejects_bad_arguments(graph):
    cell = tf1_wn.WeightNormGRUCell(2)
    x = tf.zeros([2, 3, 4])
    with pytest.raises(ValueError, match="`init_scale`"):
        cell.data_init(x, init_scale=0.0)
    with pytest.raises(TypeError, match="`sequence_length`.*float32"):
        cell.data_init(x, sequence_length=tf.constant([1.0, 2.0]))
    with pytest.raises(ValueError, match="`inputs`.*rank 3.*time, batch"):
        cell.data_init(tf.zeros([2, 4]), time_major=True)
