"""The cells against a float64 NumPy step-by-step reference of API.md.

The reference (tests/reference.py) is written from the contract's equations
only.
"""
import numpy as np
import pytest
import tensorflow.compat.v1 as tf

import tf1_wn
from helpers import CELL_KINDS as KINDS
from helpers import (cell_params, check_lstm_gru_stack, flatten_state,
                     make_cell, randomize)
from reference import run_rnn as run_reference

# Every test runs on native kernels and on composed ops (conftest).
pytestmark = pytest.mark.usefixtures("implementation")


@pytest.mark.parametrize("kind", KINDS)
def test_outputs_states_and_gradients_match_numpy(graph, rng, kind):
    batch, steps, depth, n = 3, 5, 4, 3
    x_value = rng.normal(0.5, 1.0, (batch, steps, depth))
    lengths = np.array([5, 2, 4])
    x = tf.placeholder(tf.float64, [None, steps, depth])
    seq = tf.placeholder(tf.int32, [None])
    cell = make_cell(kind, n, forget_bias=0.7) if kind == "lstm" \
        else make_cell(kind, n)
    outputs, final = tf.nn.dynamic_rnn(cell, x, sequence_length=seq,
                                       dtype=tf.float64)
    variables = cell_params("rnn/wn_%s_cell" % kind)
    names = sorted(variables)
    out_weights = rng.normal(size=(batch, steps, n))
    state_weights = [rng.normal(size=(batch, n)) for _ in flatten_state(final)]
    loss = tf.reduce_sum(outputs * out_weights) + sum(
        tf.reduce_sum(s * w) for s, w in zip(flatten_state(final),
                                             state_weights))
    grads = tf.gradients(loss, [variables[k] for k in names] + [x])

    with tf.Session() as sess:
        params = randomize(sess, variables, rng)
        feed = {x: x_value, seq: lengths}
        got_out, got_final, got_grads = sess.run([outputs, final, grads], feed)

    def np_loss(p, xv):
        o, s = run_reference(kind, p, xv, n, lengths, forget_bias=0.7)
        return np.sum(o * out_weights) + sum(
            np.sum(a * w) for a, w in zip(flatten_state(s), state_weights))

    want_out, want_final = run_reference(kind, params, x_value, n, lengths,
                                         forget_bias=0.7)
    np.testing.assert_allclose(got_out, want_out, rtol=1e-10, atol=1e-11)
    for got, want in zip(flatten_state(got_final), flatten_state(want_final)):
        np.testing.assert_allclose(got, want, rtol=1e-10, atol=1e-11)
    assert np.all(got_out[1, 2:] == 0.0)

    # Central finite differences of the NumPy loss, every entry.
    def numeric(get, put):
        base = get().copy()
        grad = np.zeros_like(base)
        for index in np.ndindex(base.shape):
            for sign in (1, -1):
                bumped = base.copy()
                bumped[index] += sign * 1e-6
                put(bumped)
                grad[index] += sign * np_loss(params, xs[0])
            put(base)
        return grad / 2e-6

    xs = [x_value.copy()]
    for name, got in zip(names + ["inputs"], got_grads):
        if name == "inputs":
            want = numeric(lambda: xs[0], lambda val: xs.__setitem__(0, val))
        else:
            want = numeric(lambda: params[name],
                           lambda val: params.__setitem__(name, val))
        np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-7,
                                   err_msg=name)


@pytest.mark.parametrize("kind", KINDS)
def test_scaling_a_column_of_v_leaves_outputs_unchanged(graph, rng, kind):
    batch, steps, depth, n = 4, 6, 5, 3
    x_value = rng.normal(size=(batch, steps, depth))
    x = tf.constant(x_value)
    cell = make_cell(kind, n)
    outputs, _ = tf.nn.dynamic_rnn(cell, x, dtype=tf.float64)
    variables = cell_params("rnn/wn_%s_cell" % kind)
    with tf.Session() as sess:
        params = randomize(sess, variables, rng)
        before = sess.run(outputs)
        for name, var in variables.items():
            if name.endswith("/v"):
                column = rng.integers(var.shape[1])
                scaled = params[name].copy()
                scaled[:, column] *= rng.uniform(0.1, 10.0)
                var.load(scaled, sess)
        after = sess.run(outputs)
    np.testing.assert_allclose(after, before, rtol=1e-10, atol=1e-11)
    np.testing.assert_allclose(
        before, run_reference(kind, params, x_value, n)[0], rtol=1e-10,
        atol=1e-11)


@pytest.mark.parametrize("kind", KINDS)
def test_float32_matches_reference(graph, rng, kind):
    x_value = rng.normal(size=(2, 4, 3)).astype(np.float32)
    cell = make_cell(kind, 5)
    outputs, _ = tf.nn.dynamic_rnn(cell, tf.constant(x_value),
                                   dtype=tf.float32)
    assert outputs.dtype == tf.float32
    variables = cell_params("rnn/wn_%s_cell" % kind)
    with tf.Session() as sess:
        params = randomize(sess, variables, rng)
        got = sess.run(outputs)
    np.testing.assert_allclose(
        got, run_reference(kind, params, x_value.astype(np.float64), 5)[0],
        rtol=1e-4, atol=1e-5)


def test_lstm_concatenated_state(graph, rng):
    x_value = rng.normal(size=(2, 3, 4))
    cell = tf1_wn.WeightNormLSTMCell(3, state_is_tuple=False)
    assert cell.state_size == 6
    _, final = tf.nn.dynamic_rnn(cell, tf.constant(x_value), dtype=tf.float64)
    variables = cell_params("rnn/wn_lstm_cell")
    with tf.Session() as sess:
        params = randomize(sess, variables, rng)
        got = sess.run(final)
    _, (c, h) = run_reference("lstm", params, x_value, 3)
    np.testing.assert_allclose(got, np.concatenate(
        [c, h], 1), rtol=1e-10, atol=1e-11)


def test_multi_rnn_cell_matches_stacked_reference(graph, rng):
    check_lstm_gru_stack(tf1_wn.MultiRNNCell(
        [tf1_wn.WeightNormLSTMCell(4), tf1_wn.WeightNormGRUCell(3)]), rng)


@pytest.mark.parametrize("dtype", [tf.float16, tf.bfloat16])
@pytest.mark.parametrize("kind", KINDS)
def test_half_precision_cells_match_reference(graph, rng, kind, dtype):
    """float16/bfloat16 cells: norms in float32, the rest in the cell's
    dtype; within half-precision rounding of the float64 reference."""
    x = tf.cast(tf.constant(rng.normal(size=(2, 6, 3))), dtype)
    cell = make_cell(kind, 5)
    outputs, _ = tf.nn.dynamic_rnn(cell, x, dtype=dtype)
    assert outputs.dtype == dtype
    variables = cell_params("rnn/wn_%s_cell" % kind)
    assert all(v.dtype.base_dtype == dtype for v in variables.values())
    loss = tf.reduce_sum(tf.cast(outputs, tf.float32))
    grads = tf.gradients(loss, list(variables.values()))
    with tf.Session() as sess:
        randomize(sess, variables, rng)
        # The reference uses the values the variables actually hold.
        params = {name: sess.run(tf.cast(var, tf.float64))
                  for name, var in variables.items()}
        x_value, got, grad_values = sess.run(
            [tf.cast(x, tf.float64), tf.cast(outputs, tf.float64),
             [tf.cast(g, tf.float32) for g in grads]])
    expected = run_reference(kind, params, x_value, 5)[0]
    tolerance = {tf.float16: 1e-2, tf.bfloat16: 6e-2}[dtype]
    np.testing.assert_allclose(got, expected, atol=tolerance)
    assert all(np.all(np.isfinite(g)) for g in grad_values)
