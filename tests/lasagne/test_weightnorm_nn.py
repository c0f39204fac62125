"""openai/weightnorm's ``nn.py`` flavour (`weightnorm_nn`) against float64
NumPy written from its definitions, and where it differs from
improved-gan's (`nn`)."""
import numpy as np
import pytest
import tensorflow.compat.v1 as tf

from tf1_wn.compat import lasagne
from tf1_wn.compat.lasagne import nn as improved_gan
from tf1_wn.compat.lasagne import weightnorm_nn as nn

L = lasagne.layers


def test_lrelu_slopes_differ_between_the_two_nn_files(graph):
    x = tf.constant([-2.0, 3.0], tf.float64)
    with tf.Session() as sess:
        assert list(sess.run(nn.lrelu(x))) == [-0.2, 3.0]
        assert list(sess.run(improved_gan.lrelu(x))) == [-0.4, 3.0]


def test_weight_norm_resamples_w_and_trains_a_regularizable_g(graph, rng,
                                                              seeded):
    seeded(3)
    x = rng.normal(size=(16, 5))
    l_in = L.InputLayer((None, 5), input_var=tf.constant(x))
    dense = L.DenseLayer(l_in, 4, W=lasagne.init.Normal(1.0))
    wn = nn.weight_norm(dense)
    reference = np.random.RandomState(3)
    reference.normal(0.0, 1.0, size=(5, 4))          # the DenseLayer's W
    v = reference.normal(0.0, 0.05, size=(5, 4))     # weight_norm's resample
    assert L.get_all_params(wn, trainable=True) == [dense.W_param, wn.b,
                                                    wn.g]
    assert L.get_all_params(wn, regularizable=True) == [dense.W_param, wn.g]
    out_init = L.get_output(wn, init=True)
    with tf.Session() as sess:
        sess.run(tf.global_variables_initializer())
        np.testing.assert_array_equal(sess.run(dense.W_param), v)
        got = sess.run(out_init)
        sess.run(lasagne.apply_updates(wn.init_updates))
        after = sess.run(L.get_output(wn))
    t = x @ (v / np.linalg.norm(v, axis=0))
    want = np.maximum((t - t.mean(0)) / t.std(0), 0)
    np.testing.assert_allclose(got, want, rtol=1e-10, atol=1e-12)
    np.testing.assert_allclose(after, want, rtol=1e-9, atol=1e-12)


def test_batch_norm_keeps_upstreams_parameter_order(graph, seeded):
    seeded(0)
    l_in = L.InputLayer((None, 3, 4, 4))
    bn = nn.batch_norm(L.Conv2DLayer(l_in, 5, 3, pad=1))
    assert [bn.param_name(p) for p in bn.get_params()] == [
        "b", "g", "avg_batch_mean", "avg_batch_var"]
    assert bn.get_params(regularizable=True) == [bn.g]


def test_softmax_loss_with_labels_and_distributions(graph, rng):
    logits = rng.normal(size=(5, 4)) * 3
    labels = rng.integers(0, 4, size=5)
    p = np.eye(4)[labels]
    log_softmax = logits - logits.max(1, keepdims=True)
    log_softmax -= np.log(np.exp(log_softmax).sum(1, keepdims=True))
    want = -log_softmax[np.arange(5), labels].mean()
    with tf.Session() as sess:
        got_labels, got_p = sess.run([
            nn.softmax_loss(tf.constant(labels, tf.int32),
                            tf.constant(logits)),
            nn.softmax_loss(tf.constant(p), tf.constant(logits))])
    np.testing.assert_allclose([got_labels, got_p], [want, want],
                               rtol=1e-12)


@pytest.mark.parametrize("mom1", [0.9, 0.0])
def test_adamax_two_steps(graph, rng, mom1):
    start = rng.normal(size=4)
    c = rng.normal(size=4)
    p = tf.Variable(start)
    step = lasagne.apply_updates(nn.adamax_updates(
        [p], tf.reduce_sum(c * p + 0.1 * p ** 2), lr=0.01, mom1=mom1))
    with tf.Session() as sess:
        sess.run(tf.global_variables_initializer())
        sess.run(step)
        sess.run(step)
        got = sess.run(p)
    value, v, mg = start.copy(), np.zeros(4), np.zeros(4)
    for _ in range(2):
        g = c + 0.2 * value
        v = mom1 * v + (1 - mom1) * g if mom1 > 0 else g
        mg = np.maximum(0.999 * mg, np.abs(g))
        value = value - 0.01 * v / (mg + 1e-6)
    np.testing.assert_allclose(got, value, rtol=1e-12)


def test_global_avg_and_no_norm(graph, rng):
    x = rng.normal(size=(6, 2, 3, 3))
    l_in = L.InputLayer((None, 2, 3, 3), input_var=tf.constant(x))
    pooled = nn.GlobalAvgLayer(l_in)
    assert pooled.output_shape == (None, 2)
    dense = L.DenseLayer(pooled, 3, nonlinearity=None)
    raw = dense.W
    init_layer = nn.no_norm(dense)
    assert init_layer.get_params(trainable=True) == [init_layer.b]
    out = L.get_output(init_layer, init=True)
    with tf.Session() as sess:
        sess.run(tf.global_variables_initializer())
        w, got = sess.run([raw, out])
        sess.run(lasagne.apply_updates(init_layer.init_updates))
        after, g = sess.run([L.get_output(init_layer), init_layer.g])
    t = x.mean((2, 3)) @ w
    want = (t - t.mean(0)) / t.std(0)  # the dense layer had no nonlinearity
    np.testing.assert_allclose(got, want, rtol=1e-10)
    np.testing.assert_allclose(after, want, rtol=1e-9, atol=1e-12)
    np.testing.assert_allclose(g, 1 / t.std(0), rtol=1e-10)


def test_zca_whitens(graph, rng):
    x = rng.normal(size=(500, 2, 2)) @ np.array([[2.0, 0.5], [0.0, 0.3]])
    zca = nn.ZCA(regularization=1e-8, x=x)
    white = zca.apply(x).reshape(500, -1)
    np.testing.assert_allclose(np.cov(white.T, bias=True), np.eye(4),
                               atol=1e-5)
    np.testing.assert_allclose(zca.invert(zca.apply(x)), x, atol=1e-8)
    with tf.Session() as sess:
        np.testing.assert_allclose(
            sess.run(zca.apply(tf.constant(x))), zca.apply(x), rtol=1e-10,
            atol=1e-12)
