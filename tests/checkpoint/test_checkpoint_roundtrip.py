"""Plain TF1 checkpoints -> convert -> tf1_wn models (same outputs), and
trained tf1_wn checkpoints -> fold -> plain models (same outputs).

The plain models use tf_slim's real `conv2d`, `conv2d_transpose` and
`fully_connected` (they still work under Keras 3 through TF's internal legacy
layers) and raw `get_variable` kernels; the recurrent references are NumPy
float64 implementations of TF1's BasicLSTMCell and GRUCell steps.
"""
import os
import re
import warnings

import numpy as np
import pytest
import tensorflow.compat.v1 as tf
import tf_slim

import tf1_wn
from tf1_wn import checkpoint
from helpers import save_checkpoint


def _rel(a, b):
    return np.linalg.norm(np.ravel(a - b)) / np.linalg.norm(np.ravel(b))


def _run(build, prefix, feeds, train_steps=0, save_to=None):
    """Builds a model in a fresh graph, restores its variables from `prefix`
    (initializes the rest), optionally trains with Adam and saves every
    variable to `save_to`; returns the outputs for `feeds`."""
    with tf.Graph().as_default():
        inputs, output = build()
        model_vars = tf.global_variables()
        train = None
        if train_steps:
            loss = tf.reduce_mean(tf.square(output - 0.3))
            train = tf.train.AdamOptimizer(0.05).minimize(
                loss, global_step=tf.train.get_or_create_global_step())
        with tf.Session() as session:
            session.run(tf.global_variables_initializer())
            if prefix is not None:
                tf.train.Saver(model_vars).restore(session, prefix)
            feed = dict(zip(inputs, feeds))
            for _ in range(train_steps):
                session.run(train, feed)
            if save_to:
                tf.train.Saver().save(session, save_to,
                                      write_meta_graph=False)
            return session.run(output, feed)


def _slim_cnn():
    x = tf.placeholder(tf.float32, [2, 6, 6, 3])
    y = tf_slim.conv2d(x, 4, 3, scope="conv1")
    y = tf_slim.conv2d_transpose(y, 5, 3, stride=2, scope="deconv1",
                                 activation_fn=tf.nn.tanh)
    y = tf_slim.fully_connected(tf.reshape(y, [2, -1]), 7, scope="fc",
                                activation_fn=None)
    return [x], y


def _wn_cnn():
    x = tf.placeholder(tf.float32, [2, 6, 6, 3])
    y = tf1_wn.conv2d(x, 4, 3, activation=tf.nn.relu, scope="conv1")
    y = tf1_wn.conv2d_transpose(y, 5, 3, strides=2, activation=tf.nn.tanh,
                                scope="deconv1")
    y = tf1_wn.dense(tf.reshape(y, [2, -1]), 7, scope="fc")
    return [x], y


def test_slim_cnn_convert_then_fold(tmp_path, rng):
    x = rng.normal(size=(2, 6, 6, 3)).astype(np.float32)
    plain = str(tmp_path / "plain" / "model.ckpt")
    # one Adam step: random values everywhere, and optimizer slots to handle
    out_plain = _run(_slim_cnn, None, [x], train_steps=1, save_to=plain)

    with pytest.warns(checkpoint.CheckpointWarning, match="dropped 6"):
        plan = checkpoint.convert_checkpoint(plain, str(tmp_path / "wn.ckpt"))
    reader = tf.train.load_checkpoint(plain)
    converted = tf.train.load_checkpoint(plan.output)
    # g is each output channel's norm: conv over (kh, kw, in), transposed
    # conv over (kh, kw, in) of its [kh, kw, out, in] kernel, dense over in
    w = reader.get_tensor("deconv1/weights").astype(np.float64)
    np.testing.assert_allclose(
        converted.get_tensor("deconv1/g"),
        [np.sqrt(np.sum(w[:, :, c, :] ** 2)) for c in range(5)], rtol=1e-6)
    w = reader.get_tensor("conv1/weights").astype(np.float64)
    np.testing.assert_allclose(
        converted.get_tensor("conv1/g"),
        [np.sqrt(np.sum(w[..., c] ** 2)) for c in range(4)], rtol=1e-6)
    assert "conv1/bias/Adam" in converted.get_variable_to_shape_map()
    assert "conv1/weights/Adam" not in converted.get_variable_to_shape_map()

    wn_trained = str(tmp_path / "wn_trained" / "model.ckpt")
    out_wn = _run(_wn_cnn, plan.output, [x])
    assert _rel(out_wn, out_plain) < 1e-6

    # fine-tune the WN model (v and g move), fold, serve with tf_slim
    out_tuned = _run(_wn_cnn, plan.output, [x], train_steps=2,
                     save_to=wn_trained)
    assert _rel(out_tuned, out_plain) > 1e-3
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", checkpoint.CheckpointWarning)
        folded = checkpoint.fold_checkpoint(
            wn_trained, str(tmp_path / "folded" / "model.ckpt"),
            naming="slim")
    out_folded = _run(_slim_cnn, folded.output, [x])
    assert _rel(out_folded, out_tuned) < 1e-6


def _raw_plain(depthwise=True):
    x = tf.placeholder(tf.float64, [2, 5, 5, 3])
    with tf.variable_scope("decoder/up"):
        k = tf.get_variable("kernel", [3, 3, 4, 3], tf.float64)
        b = tf.get_variable("bias", [4], tf.float64)
        y = tf.nn.conv2d_transpose(x, k, [2, 10, 10, 4], [1, 2, 2, 1],
                                   "SAME") + b
    with tf.variable_scope("dw"):
        k = tf.get_variable("depthwise_weights", [3, 3, 4, 2], tf.float64)
        b = tf.get_variable("biases", [8], tf.float64)
        y = tf.nn.depthwise_conv2d(y, k, [1, 1, 1, 1], "SAME") + b
    with tf.variable_scope("dense1"):
        k = tf.get_variable("kernel", [8, 6], tf.float64)
        b = tf.get_variable("bias", [6], tf.float64)
        y = tf.tensordot(y, k, [[3], [0]]) + b
    return [x], y


def _raw_wn():
    x = tf.placeholder(tf.float64, [2, 5, 5, 3])
    y = tf1_wn.conv2d_transpose(x, 4, 3, strides=2, scope="decoder/up")
    y = tf1_wn.depthwise_conv2d(y, 3, depth_multiplier=2, scope="dw")
    y = tf1_wn.nin(y, 6, scope="dense1")
    return [x], y


def _randomize(session, rng):
    for var in tf.global_variables():
        shape = var.shape.as_list()
        session.run(var.assign(rng.normal(size=shape)))


def test_raw_kernels_with_layout_hint(tmp_path, rng):
    x = rng.normal(size=(2, 5, 5, 3))
    plain = str(tmp_path / "raw.ckpt")
    with tf.Graph().as_default():
        inputs, output = _raw_plain()
        with tf.Session() as session:
            _randomize(session, rng)
            tf.train.Saver().save(session, plain, write_meta_graph=False)
            out_plain = session.run(output, {inputs[0]: x})
    # "decoder/up" does not say transpose: the default (conv2d) would give g
    # the wrong axis, so the layout is hinted
    plan = checkpoint.convert_checkpoint(
        plain, str(tmp_path / "wn.ckpt"),
        layouts={"^decoder/up/": "conv2d_transpose"})
    kinds = {s.sources[0]: s.kind for s in plan.steps
             if s.action == "convert"}
    assert kinds == {"decoder/up/kernel": "conv2d_transpose",
                     "dw/depthwise_weights": "depthwise_conv2d",
                     "dense1/kernel": "dense"}
    out_wn = _run(_raw_wn, plan.output, [x])
    assert _rel(out_wn, out_plain) < 1e-9
    # fold back: the values return (up to the eps)
    back = checkpoint.fold_checkpoint(
        plan.output, str(tmp_path / "back.ckpt"),
        layouts={"^decoder/up/": "conv2d_transpose"})
    before, after = (tf.train.load_checkpoint(p) for p in (plain, back.output))
    for old, new in [("decoder/up/kernel", "decoder/up/kernel"),
                     ("dw/depthwise_weights", "dw/depthwise_kernel"),
                     ("dw/biases", "dw/bias")]:
        np.testing.assert_allclose(after.get_tensor(new),
                                   before.get_tensor(old), rtol=1e-10)


def _sigmoid(z):
    return 1.0 / (1.0 + np.exp(-z))


def _numpy_lstm(x, kernel, bias, n, forget_bias=1.0):
    """TF1 BasicLSTMCell over time, float64: [i, j, f, o] gate order."""
    c = np.zeros((x.shape[0], n))
    h = np.zeros((x.shape[0], n))
    outs = []
    for t in range(x.shape[1]):
        z = np.concatenate([x[:, t], h], axis=1) @ kernel + bias
        i, j, f, o = np.split(z, 4, axis=1)
        c = _sigmoid(f + forget_bias) * c + _sigmoid(i) * np.tanh(j)
        h = np.tanh(c) * _sigmoid(o)
        outs.append(h)
    return np.stack(outs, axis=1)


def _numpy_gru(x, wg, bg, wc, bc, n):
    """TF1 GRUCell over time, float64."""
    h = np.zeros((x.shape[0], n))
    outs = []
    for t in range(x.shape[1]):
        xt = x[:, t]
        r, u = np.split(_sigmoid(np.concatenate([xt, h], 1) @ wg + bg), 2, 1)
        c = np.tanh(np.concatenate([xt, r * h], 1) @ wc + bc)
        h = u * h + (1 - u) * c
        outs.append(h)
    return np.stack(outs, axis=1)


def test_tf1_cell_kernels_convert_and_fold(tmp_path, rng):
    d, n, steps = 3, 5, 4
    x = rng.normal(size=(2, steps, d))
    values = {
        "rnn/basic_lstm_cell/kernel": rng.normal(0, 0.5, size=(d + n, 4 * n)),
        "rnn/basic_lstm_cell/bias": rng.normal(size=4 * n),
        "enc/gru_cell/gates/kernel": rng.normal(0, 0.5, size=(d + n, 2 * n)),
        "enc/gru_cell/gates/bias": rng.normal(size=2 * n),
        "enc/gru_cell/candidate/kernel": rng.normal(0, 0.5, size=(d + n, n)),
        "enc/gru_cell/candidate/bias": rng.normal(size=n),
    }
    plain = str(tmp_path / "cells.ckpt")
    with tf.Graph().as_default():
        variables = {name: tf.Variable(value, name="v%d" % i)
                     for i, (name, value) in enumerate(values.items())}
        with tf.Session() as session:
            session.run(tf.global_variables_initializer())
            tf.train.Saver(variables).save(session, plain,
                                           write_meta_graph=False)
    want_lstm = _numpy_lstm(x, values["rnn/basic_lstm_cell/kernel"],
                            values["rnn/basic_lstm_cell/bias"], n)
    want_gru = _numpy_gru(x, values["enc/gru_cell/gates/kernel"],
                          values["enc/gru_cell/gates/bias"],
                          values["enc/gru_cell/candidate/kernel"],
                          values["enc/gru_cell/candidate/bias"], n)

    plan = checkpoint.convert_checkpoint(plain, str(tmp_path / "wn.ckpt"))
    assert {s.kind for s in plan.changed} == {"lstm_cell", "gru_gates",
                                              "gru_candidate"}

    def build():
        xs = tf.placeholder(tf.float64, [2, steps, d])
        lstm = tf1_wn.WeightNormLSTMCell(n, name="basic_lstm_cell",
                                         dtype=tf.float64)
        out_lstm, _ = tf.nn.dynamic_rnn(lstm, xs, dtype=tf.float64)
        gru = tf1_wn.WeightNormGRUCell(n, name="gru_cell", dtype=tf.float64)
        out_gru, _ = tf.nn.dynamic_rnn(gru, xs, dtype=tf.float64,
                                       scope="enc")
        return [xs], tf.concat([out_lstm, out_gru], axis=2)

    got = _run(build, plan.output, [x])
    np.testing.assert_allclose(got[..., :n], want_lstm, rtol=1e-9,
                               atol=1e-12)
    np.testing.assert_allclose(got[..., n:], want_gru, rtol=1e-9, atol=1e-12)

    folded = checkpoint.fold_checkpoint(plan.output,
                                        str(tmp_path / "folded.ckpt"))
    reader = tf.train.load_checkpoint(folded.output)
    assert sorted(reader.get_variable_to_shape_map()) == sorted(values)
    for name, value in values.items():
        np.testing.assert_allclose(reader.get_tensor(name), value,
                                   rtol=1e-10)


@pytest.mark.parametrize("variant", ["paper", "bit"])
def test_weight_standardized_fold_serves_plain(tmp_path, rng, variant):
    x = rng.normal(size=(2, 5, 5, 3))

    def build_ws():
        xs = tf.placeholder(tf.float64, [2, 5, 5, 3])
        y = tf1_wn.ws_conv2d(xs, 4, 3, gain=True, variant=variant,
                             scope="block/ws_conv2d")
        y = tf1_wn.ws_depthwise_conv2d(y, 3, depth_multiplier=2,
                                       variant=variant)
        return [xs], y

    def build_plain():
        xs = tf.placeholder(tf.float64, [2, 5, 5, 3])
        with tf.variable_scope("block/ws_conv2d"):
            k = tf.get_variable("kernel", [3, 3, 3, 4], tf.float64)
            b = tf.get_variable("bias", [4], tf.float64)
            y = tf.nn.conv2d(xs, k, [1, 1, 1, 1], "SAME") + b
        with tf.variable_scope("ws_depthwise_conv2d"):
            k = tf.get_variable("kernel", [3, 3, 4, 2], tf.float64)
            b = tf.get_variable("bias", [8], tf.float64)
            y = tf.nn.depthwise_conv2d(y, k, [1, 1, 1, 1], "SAME") + b
        return [xs], y

    ws_ckpt = str(tmp_path / "ws.ckpt")
    with tf.Graph().as_default():
        inputs, output = build_ws()
        with tf.Session() as session:
            _randomize(session, rng)
            tf.train.Saver().save(session, ws_ckpt, write_meta_graph=False)
            want = session.run(output, {inputs[0]: x})
    plan = checkpoint.fold_checkpoint(
        ws_ckpt, str(tmp_path / "plain.ckpt"), ws="ws_depthwise",
        ws_variant=variant)
    assert {s.kind for s in plan.changed} == {"conv2d", "depthwise_conv2d"}
    got = _run(build_plain, plan.output, [x])
    assert _rel(got, want) < 1e-9


def _readme_restore_block():
    readme = os.path.join(os.path.dirname(__file__), os.pardir, os.pardir,
                          "README.md")
    text = open(readme, encoding="utf-8").read()
    marker = text.index("<!-- readme-restore -->")
    return re.search(r"```python\n(.*?)```", text[marker:], re.S).group(1)


def test_readme_restore_recipe_with_an_optimizer(tmp_path, rng):
    """The README's recipe restores a converted checkpoint into a model
    that has an Adam optimizer (whose v/g slots are not in the file), and
    the outputs equal the plain model's."""
    kernel = rng.normal(size=(5, 3)).astype(np.float32)
    bias = rng.normal(size=3).astype(np.float32)
    plain = str(tmp_path / "plain.ckpt")
    save_checkpoint(plain, {"fc/kernel": kernel, "fc/bias": bias,
                            "fc/kernel/Adam": np.zeros_like(kernel)})
    CKPT = str(tmp_path / "wn.ckpt")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", checkpoint.CheckpointWarning)
        checkpoint.convert_checkpoint(plain, CKPT)
    x = rng.normal(size=(4, 5)).astype(np.float32)
    with tf.Graph().as_default():
        out = tf1_wn.dense(tf.constant(x), 3, scope="fc")
        tf.train.AdamOptimizer().minimize(tf.reduce_sum(out))
        with tf.Session() as sess:
            exec(_readme_restore_block(), {"tf": tf, "sess": sess,
                                           "CKPT": CKPT})
            got = sess.run(out)
    np.testing.assert_allclose(got, x @ kernel + bias, rtol=1e-5, atol=1e-5)
