"""The cells against a float64 NumPy step-by-step reference of API.md.

The reference below is written from the contract's equations only; the
other test_rnn_* files import it.
"""
import numpy as np
import pytest
import tensorflow.compat.v1 as tf

import tf1_wn

# Every test runs on native kernels and on composed ops (conftest).
pytestmark = pytest.mark.usefixtures("implementation")

EPS = 1e-12  # the norm's eps: negligible for the random v used here


def sigmoid(x):
    return 1.0 / (1.0 + np.exp(-x))


def wn(v, g):
    """g * v / ||v||, each column on its own."""
    return g * v / np.sqrt(np.sum(v ** 2, axis=0, keepdims=True) + EPS)


def proj(p, prefix, x, h):
    pre = prefix + "/" if prefix else ""
    return (x @ wn(p[pre + "input/v"], p[pre + "input/g"])
            + h @ wn(p[pre + "recurrent/v"], p[pre + "recurrent/g"])
            + p[pre + "bias"])


def step(kind, p, x, state, forget_bias=1.0):
    """One step; state is h (RNN, GRU) or (c, h) (LSTM)."""
    if kind == "rnn":
        h = np.tanh(proj(p, "", x, state))
        return h, h
    if kind == "gru":
        r, u = np.split(sigmoid(proj(p, "gates", x, state)), 2, axis=1)
        c = np.tanh(proj(p, "candidate", x, r * state))
        h = u * state + (1 - u) * c
        return h, h
    c, h = state
    i, j, f, o = np.split(proj(p, "", x, h), 4, axis=1)
    c = sigmoid(f + forget_bias) * c + sigmoid(i) * np.tanh(j)
    h = np.tanh(c) * sigmoid(o)
    return h, (c, h)


def run_reference(kind, p, x, n, lengths=None, forget_bias=1.0):
    """Batch-major [B, T, d] inputs; dynamic_rnn semantics for lengths."""
    batch, steps, _ = x.shape
    h0 = np.zeros((batch, n))
    state = (h0, h0.copy()) if kind == "lstm" else h0
    lengths = np.full(batch, steps) if lengths is None else lengths
    outputs = np.zeros((batch, steps, n))
    for t in range(steps):
        out, new = step(kind, p, x[:, t], state, forget_bias)
        live = (t < lengths)[:, None]
        outputs[:, t] = np.where(live, out, 0.0)
        if kind == "lstm":
            state = tuple(np.where(live, a, b) for a, b in zip(new, state))
        else:
            state = np.where(live, new, state)
    return outputs, state


def make_cell(kind, n, **kwargs):
    cls = {"rnn": tf1_wn.WeightNormRNNCell, "gru": tf1_wn.WeightNormGRUCell,
           "lstm": tf1_wn.WeightNormLSTMCell}[kind]
    return cls(n, **kwargs)


def cell_params(cell_scope):
    """The cell's variables by name relative to its scope."""
    prefix = cell_scope + "/"
    return {v.op.name[len(prefix):]: v for v in tf.global_variables()
            if v.op.name.startswith(prefix)}


def randomize(sess, variables, rng):
    """Random values for every variable: v normal, g positive, bias normal."""
    values = {}
    for name, var in variables.items():
        shape = var.shape.as_list()
        if name.endswith("/g"):
            value = rng.uniform(0.5, 2.0, shape)
        else:
            value = rng.normal(0.0, 0.7, shape)
        var.load(value, sess)
        values[name] = value
    return values


def flatten_state(state):
    return list(state) if isinstance(state, tuple) else [state]


KINDS = ["rnn", "gru", "lstm"]


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
        before, run_reference(kind, params, x_value, n)[0], rtol=1e-10, atol=1e-11)


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
    np.testing.assert_allclose(got, np.concatenate([c, h], 1), rtol=1e-10, atol=1e-11)


def check_lstm_gru_stack(multi, rng):
    """Runs `multi`, a stack of WeightNormLSTMCell(4) then
    WeightNormGRUCell(3) on depth-5 inputs, against the NumPy reference."""
    x_value = rng.normal(size=(3, 4, 5))
    outputs, final = tf.nn.dynamic_rnn(multi, tf.constant(x_value),
                                       dtype=tf.float64)
    lstm_vars = cell_params("rnn/multi_rnn_cell/cell_0/wn_lstm_cell")
    gru_vars = cell_params("rnn/multi_rnn_cell/cell_1/wn_gru_cell")
    assert len(lstm_vars) == 5 and len(gru_vars) == 10
    with tf.Session() as sess:
        lstm_p = randomize(sess, lstm_vars, rng)
        gru_p = randomize(sess, gru_vars, rng)
        got_out, got_final = sess.run([outputs, final])
    mid, lstm_state = run_reference("lstm", lstm_p, x_value, 4)
    want, gru_state = run_reference("gru", gru_p, mid, 3)
    np.testing.assert_allclose(got_out, want, rtol=1e-10, atol=1e-11)
    np.testing.assert_allclose(got_final[0].c, lstm_state[0], rtol=1e-10,
                               atol=1e-11)
    np.testing.assert_allclose(got_final[0].h, lstm_state[1], rtol=1e-10)
    np.testing.assert_allclose(got_final[1], gru_state, rtol=1e-10,
                               atol=1e-11)


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
