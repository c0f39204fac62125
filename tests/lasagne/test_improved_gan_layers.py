"""improved-gan's own layers against float64 NumPy written from their
definitions: MinibatchLayer (forward and init), BatchNormLayer (training,
deterministic, bn_updates), l2normalize, the older DenseLayer's init, and
log_sum_exp / centered_softplus."""
import numpy as np
import pytest
import tensorflow.compat.v1 as tf

from tf1_wn.compat import lasagne
from tf1_wn.compat.lasagne import nn

L = lasagne.layers


def _minibatch_features(x, theta, lws, b, init):
    w = theta * np.exp(lws) / np.sqrt((theta ** 2).sum(0))
    act = np.einsum("ni,ikd->nkd", x, w)
    n = x.shape[0]
    dist = np.zeros((n, w.shape[1], n))
    for i in range(n):
        for j in range(n):
            dist[i, :, j] = np.abs(act[i] - act[j]).sum(-1)
    dist += 1e6 * np.eye(n)[:, None, :]
    if init:
        mean_min = 0.5 * dist.min(2).mean(0)
        dist = dist / mean_min[None, :, None]
        f = np.exp(-dist).sum(2)
        return np.concatenate([x, f - f.mean(0)], 1), (
            lws - np.log(mean_min)[:, None], -f.mean(0))
    return np.concatenate([x, np.exp(-dist).sum(2) + b], 1), None


@pytest.mark.parametrize("init", [False, True])
def test_minibatch_layer(graph, rng, init):
    x = rng.normal(size=(6, 4))
    l_in = L.InputLayer((None, 4), input_var=tf.constant(x))
    layer = nn.MinibatchLayer(l_in, num_kernels=3, dim_per_kernel=2)
    assert [layer.param_name(p) for p in L.get_all_params(layer)] == [
        "theta", "log_weight_scale", "b"]
    theta = rng.normal(size=(4, 3, 2))
    lws = rng.normal(size=(3, 2)) * 0.1
    out = L.get_output(layer, init=init)
    with tf.Session() as sess:
        layer.theta.load(theta, sess)
        layer.log_weight_scale.load(lws, sess)
        sess.run(layer.b.initializer)
        got = sess.run(out)
        if init:
            sess.run(lasagne.apply_updates(layer.init_updates))
            new = sess.run([layer.log_weight_scale, layer.b])
    want, updates = _minibatch_features(x, theta, lws, -1.0, init)
    np.testing.assert_allclose(got, want, rtol=1e-12, atol=1e-12)
    assert layer.output_shape == (None, 7)
    if init:
        np.testing.assert_allclose(new[0], updates[0], rtol=1e-12)
        np.testing.assert_allclose(new[1], updates[1], rtol=1e-12,
                                   atol=1e-12)


def test_batch_norm_layer(graph, rng):
    x = rng.normal(size=(5, 3, 2, 2)) * 2 + 1
    l_in = L.InputLayer((None, 3, 2, 2), input_var=tf.constant(x))
    conv = L.Conv2DLayer(l_in, 3, 1, nonlinearity=tf.nn.softplus)
    bn = nn.batch_norm(conv)
    assert conv.b is None and bn.nonlinearity is tf.nn.softplus
    assert [bn.param_name(p) for p in bn.get_params()] == [
        "b", "g", "avg_batch_mean", "avg_batch_var"]
    train = L.get_output(bn)
    test = L.get_output(bn, deterministic=True)
    with tf.Session() as sess:
        sess.run(tf.global_variables_initializer())
        w = sess.run(conv.W)
        got_train, got_test = sess.run([train, test])
        sess.run(lasagne.apply_updates(bn.bn_updates))
        avg_mean, avg_var = sess.run([bn.avg_batch_mean, bn.avg_batch_var])
    # A 1x1 conv (Lasagne flips filters, a no-op at 1x1).
    pre = np.einsum("nchw,oc->nohw", x, w[:, :, 0, 0])
    mean = pre.mean((0, 2, 3))
    var = pre.var((0, 2, 3))
    norm = (pre - mean[None, :, None, None]) / np.sqrt(
        1e-6 + var)[None, :, None, None]
    softplus = np.log1p(np.exp(norm))
    np.testing.assert_allclose(got_train, softplus, rtol=1e-10)
    np.testing.assert_allclose(got_test, np.log1p(np.exp(
        pre / np.sqrt(1 + 1e-6))), rtol=1e-10)
    np.testing.assert_allclose(avg_mean, 0.1 * mean, rtol=1e-12)
    np.testing.assert_allclose(avg_var, 0.9 + 0.1 * 5 / 4 * var,
                               rtol=1e-12)


def test_l2normalize_and_the_older_dense_layer(graph, rng):
    x = rng.normal(size=(8, 5))
    l_in = L.InputLayer((None, 5), input_var=tf.constant(x))
    dense = L.DenseLayer(l_in, 4, nonlinearity=None)
    raw = dense.W
    plain = nn.l2normalize(dense)
    assert [plain.param_name(p) for p in plain.get_params()] == [
        "W", "b", "W_scale"]
    old = nn.DenseLayer(l_in, 3, nonlinearity=None, train_scale=True)
    assert [old.param_name(p) for p in old.get_params()] == [
        "theta", "weight_scale", "b"]
    out_plain = L.get_output(plain)
    out_init = L.get_output(old, init=True)
    with tf.Session() as sess:
        sess.run(tf.global_variables_initializer())
        w, theta = sess.run([raw, old.theta])
        got_plain, got_init = sess.run([out_plain, out_init])
        sess.run(lasagne.apply_updates(old.init_updates))
        after = sess.run(L.get_output(old))
    # W_scale starts at ones: W / sqrt(1e-6 + sum(W**2)), bias 0.
    np.testing.assert_allclose(
        got_plain, x @ (w / np.sqrt(1e-6 + (w ** 2).sum(0))), rtol=1e-10)
    unit = theta / np.linalg.norm(theta, axis=0)
    act = x @ unit
    want_init = (act - act.mean(0)) / act.std(0)
    np.testing.assert_allclose(got_init, want_init, rtol=1e-10)
    np.testing.assert_allclose(after, want_init, rtol=1e-9, atol=1e-12)


def test_log_sum_exp_and_centered_softplus(graph, rng):
    x = rng.normal(size=(4, 6)) * 30
    with tf.Session() as sess:
        lse, csp = sess.run([nn.log_sum_exp(tf.constant(x)),
                             nn.centered_softplus(tf.constant(x))])
    m = x.max(1)
    np.testing.assert_allclose(lse, m + np.log(np.exp(x - m[:, None]).sum(1)),
                               rtol=1e-13)
    np.testing.assert_allclose(csp, np.logaddexp(0, x) - np.log(2),
                               rtol=1e-12, atol=1e-12)
