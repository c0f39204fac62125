"""Mixed precision that trains: float16 / bfloat16 activations over
float32 master weights (``variable_dtype=tf.float32``), Adam with its
default epsilon, data init included."""
import numpy as np
import pytest
import tensorflow.compat.v1 as tf
from tf_slim import arg_scope

import tf1_wn

LAYERS = [tf1_wn.conv2d, tf1_wn.depthwise_conv2d, tf1_wn.conv2d_transpose,
          tf1_wn.dense, tf1_wn.ws_conv2d]


def _model(x, init=False):
    with arg_scope(LAYERS, variable_dtype=tf.float32):
        with arg_scope(LAYERS[:4], init=init):
            h = tf1_wn.conv2d(x, 8, 3, activation=tf.nn.relu, scope="conv")
            h = tf1_wn.depthwise_conv2d(h, 3, activation=tf.nn.relu,
                                        scope="dw")
            h = tf1_wn.conv2d_transpose(h, 6, 3, strides=2,
                                        activation=tf.nn.relu, scope="up")
            h = tf1_wn.ws_conv2d(h, 6, 3, activation=tf.nn.relu, scope="ws")
            h = tf.reduce_mean(h, [1, 2])
            return tf1_wn.dense(h, 3, scope="logits")


def _train(dtype, rng, steps=30, lr=0.01):
    x_value = rng.normal(size=(16, 6, 6, 2)).astype(np.float32)
    labels = (x_value.mean((1, 2, 3)) > 0).astype(np.int64) + (
        x_value[..., 0].mean((1, 2)) > 0)
    with tf.Graph().as_default():
        tf.set_random_seed(1)
        model = tf.make_template("m", _model)
        x = tf.cast(tf.constant(x_value), dtype)
        model(x, init=True)
        logits = model(x)
        assert logits.dtype == dtype
        loss = tf.reduce_mean(tf.nn.sparse_softmax_cross_entropy_with_logits(
            labels=labels, logits=tf.cast(logits, tf.float32)))
        step = tf.train.AdamOptimizer(lr).minimize(loss)
        assert {v.dtype.base_dtype for v in tf.global_variables()} == {
            tf.float32}
        with tf.Session() as sess:
            sess.run(tf.global_variables_initializer())
            sess.run(tf1_wn.init_op())
            losses = []
            for _ in range(steps):
                losses.append(sess.run([step, loss])[1])
            values = sess.run(tf.trainable_variables())
    return losses, values


@pytest.mark.parametrize("dtype", [tf.float16, tf.bfloat16])
def test_half_precision_trains_on_float32_master_weights(rng, dtype):
    losses, values = _train(dtype, rng)
    assert all(np.isfinite(losses)), losses
    assert all(np.isfinite(v).all() for v in values)
    assert np.mean(losses[-5:]) < 0.8 * np.mean(losses[:3]), losses


def test_half_precision_follows_the_float32_run(rng):
    """Small steps (large ones make the loss chaotic in any precision):
    float16 stays within its rounding of the float32 run."""
    seed = rng.integers(1 << 30)
    want, _ = _train(tf.float32, np.random.default_rng(seed), 8, lr=1e-3)
    got, _ = _train(tf.float16, np.random.default_rng(seed), 8, lr=1e-3)
    np.testing.assert_allclose(got, want, rtol=0.05)  # measured 0.025


def test_cells_keep_float32_variables(graph, rng):
    x = tf.constant(rng.normal(size=(4, 5, 3)), tf.float16)
    cell = tf1_wn.WeightNormLSTMCell(6, variable_dtype=tf.float32)
    outputs, _ = tf1_wn.dynamic_rnn(cell, x, dtype=tf.float16, init=True)
    logits = tf1_wn.dense(outputs[:, -1], 2, init=True,
                          variable_dtype=tf.float32, scope="head")
    plain, _ = tf.nn.dynamic_rnn(cell, x, dtype=tf.float16)
    head = tf1_wn.dense(plain[:, -1], 2, variable_dtype=tf.float32,
                        scope="head")
    loss = tf.reduce_mean(tf.square(tf.cast(head, tf.float32) - 1.0))
    step = tf.train.AdamOptimizer(0.02).minimize(loss)
    assert outputs.dtype == tf.float16 and logits.dtype == tf.float16
    assert {v.dtype.base_dtype for v in cell.variables} == {tf.float32}
    with tf.Session() as sess:
        sess.run(tf.global_variables_initializer())
        sess.run(tf1_wn.init_op())
        losses = [sess.run([step, loss])[1] for _ in range(40)]
    assert np.isfinite(losses).all()
    assert losses[-1] < 0.5 * losses[0], losses


def test_bad_variable_dtype(graph):
    with pytest.raises(TypeError, match="variable_dtype.*int32"):
        tf1_wn.dense(tf.zeros([2, 3]), 2, variable_dtype=tf.int32)
    with pytest.raises(TypeError, match="variable_dtype"):
        tf1_wn.WeightNormGRUCell(3, variable_dtype="half-ish")
