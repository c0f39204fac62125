"""Lasagne's own BatchNormLayer / batch_norm against float64 NumPy written
from Lasagne's definition: training and deterministic outputs, the running
averages (bn_updates and UPDATE_OPS), the override flags, the parameter
names, tags and order, and batch_norm's layer surgery."""
import numpy as np
import pytest
import tensorflow.compat.v1 as tf

from tf1_wn.compat import lasagne

L = lasagne.layers


def _batch_norm(x, axes, beta, gamma, mean, inv_std):
    keep = [1 if a in axes else s for a, s in enumerate(x.shape)]
    return ((x - mean.reshape(keep)) * (gamma * inv_std).reshape(keep)
            + beta.reshape(keep))


def _statistics(x, axes, epsilon):
    return x.mean(axis=axes), 1.0 / np.sqrt(x.var(axis=axes) + epsilon)


@pytest.mark.parametrize("shape, axes", [
    ((7, 5), "auto"), ((4, 3, 5, 6), "auto"), ((4, 3, 5, 6), (0, 2)),
    ((6, 4, 3), 0)])
def test_training_output_and_running_averages(graph, rng, shape, axes):
    x = rng.normal(2.0, 3.0, size=shape)
    layer = L.BatchNormLayer(L.InputLayer(shape, dtype="float64"), axes=axes,
                             epsilon=1e-3, alpha=0.3)
    axes = layer.axes
    kept = [s for a, s in enumerate(shape) if a not in axes]
    beta, gamma = rng.normal(size=kept), rng.normal(size=kept)
    mean0, inv0 = rng.normal(size=kept), rng.uniform(0.5, 2, size=kept)
    out = L.get_output(layer, tf.constant(x))
    test = L.get_output(layer, tf.constant(x), deterministic=True)
    with tf.Session() as sess:
        for p, v in zip(L.get_all_params(layer), (beta, gamma, mean0, inv0)):
            p.load(v, sess)
        got_train, got_test = sess.run([out, test])
        sess.run(tf.get_collection(tf.GraphKeys.UPDATE_OPS))
        got_mean, got_inv = sess.run([layer.mean, layer.inv_std])
    batch_mean, batch_inv = _statistics(x, axes, 1e-3)
    np.testing.assert_allclose(
        got_train, _batch_norm(x, axes, beta, gamma, batch_mean, batch_inv),
        rtol=1e-12, atol=1e-12)
    np.testing.assert_allclose(
        got_test, _batch_norm(x, axes, beta, gamma, mean0, inv0),
        rtol=1e-12, atol=1e-12)
    np.testing.assert_allclose(got_mean, 0.7 * mean0 + 0.3 * batch_mean,
                               rtol=1e-12)
    np.testing.assert_allclose(got_inv, 0.7 * inv0 + 0.3 * batch_inv,
                               rtol=1e-12)


def test_bn_updates_pairs_equal_update_ops(graph, rng):
    x = rng.normal(size=(8, 3))
    layer = L.BatchNormLayer(L.InputLayer((None, 3), dtype="float64"))
    assert not hasattr(layer, "bn_updates")
    L.get_output(layer, tf.constant(x))
    pairs = L.get_bn_updates(layer)
    assert [v for v, _ in pairs] == [layer.mean, layer.inv_std]
    with tf.Session() as sess:
        sess.run(tf.global_variables_initializer())
        sess.run(lasagne.apply_updates(pairs))
        got = sess.run([layer.mean, layer.inv_std])
    mean, inv = _statistics(x, (0,), 1e-4)  # Lasagne's default epsilon
    np.testing.assert_allclose(got[0], 0.1 * mean, rtol=1e-12)
    np.testing.assert_allclose(got[1], 0.9 + 0.1 * inv, rtol=1e-12)


@pytest.mark.parametrize("use, update", [(True, True), (False, False)])
def test_override_flags(graph, rng, use, update):
    x = rng.normal(size=(5, 4))
    layer = L.BatchNormLayer(L.InputLayer((None, 4), dtype="float64"),
                             beta=None, gamma=None, mean=rng.normal(size=4),
                             inv_std=np.full(4, 2.))
    out = L.get_output(layer, tf.constant(x), batch_norm_use_averages=use,
                       batch_norm_update_averages=update)
    assert bool(tf.get_collection(tf.GraphKeys.UPDATE_OPS)) == update
    with tf.Session() as sess:
        sess.run(tf.global_variables_initializer())
        mean, inv = sess.run([layer.mean, layer.inv_std])
        got = sess.run(out)
    if not use:
        mean, inv = _statistics(x, (0,), 1e-4)
    np.testing.assert_allclose(got, (x - mean) * inv, rtol=1e-12)


def test_parameters_as_lasagne(graph):
    layer = L.BatchNormLayer(L.InputLayer((None, 3, 4, 4)), name="bn")
    params = L.get_all_params(layer)
    assert [layer.param_name(p) for p in params] == [
        "bn.beta", "bn.gamma", "bn.mean", "bn.inv_std"]
    assert L.get_all_params(layer, trainable=True) == params[:2]
    assert L.get_all_params(layer, regularizable=True) == [layer.gamma]
    assert L.get_all_params(layer, batch_norm_stat=True) == params[2:]
    assert [p.shape.as_list() for p in params] == [[3]] * 4
    assert L.get_output_shape(layer) == (None, 3, 4, 4)


def test_batch_norm_takes_bias_and_nonlinearity(graph, rng):
    l_in = L.InputLayer((None, 6), dtype="float64")
    dense = L.DenseLayer(l_in, num_units=4, nonlinearity=lasagne.tanh,
                         name="fc")
    top = L.batch_norm(dense)
    assert [type(node).__name__ for node in L.get_all_layers(top)] == [
        "InputLayer", "DenseLayer", "BatchNormLayer", "NonlinearityLayer"]
    assert top.name == "fc_bn_nonlin" and top.input_layer.name == "fc_bn"
    assert dense.b is None
    assert [top.input_layer.param_name(p) for p in L.get_all_params(top)][
        1:] == ["fc_bn.beta", "fc_bn.gamma", "fc_bn.mean", "fc_bn.inv_std"]
    x = rng.normal(size=(9, 6))
    out = L.get_output(top, tf.constant(x))
    with tf.Session() as sess:
        sess.run(tf.global_variables_initializer())
        w, got = sess.run([dense.W, out])
    h = x @ w
    mean, inv = _statistics(h, (0,), 1e-4)
    np.testing.assert_allclose(got, np.tanh((h - mean) * inv), rtol=1e-11)
    # As in Lasagne: nonlinearity=None is stored as identity, which still
    # gets its NonlinearityLayer; a layer without one gets none.
    linear = L.batch_norm(L.DenseLayer(l_in, 3, nonlinearity=None))
    assert linear.nonlinearity is lasagne.nonlinearities.identity
    assert isinstance(L.batch_norm(l_in), L.BatchNormLayer)


def test_constant_channel_and_half_precision_are_finite(graph):
    x = np.zeros((4, 2), np.float16)
    x[:, 1] = np.arange(4)
    layer = L.BatchNormLayer(L.InputLayer((None, 2), dtype="float16"))
    out = L.get_output(layer, tf.constant(x))
    assert out.dtype == tf.float16
    with tf.Session() as sess:
        sess.run(tf.global_variables_initializer())
        got = sess.run(out)
    want = (x[:, 1] - 1.5) / np.sqrt(1.25 + 1e-4)
    np.testing.assert_array_equal(got[:, 0], 0)
    np.testing.assert_allclose(got[:, 1], want, rtol=2e-3)


@pytest.mark.parametrize("axes", [(), (3,), "all", (0.5,), True])
def test_bad_axes_name_the_argument(graph, axes):
    with pytest.raises(ValueError, match="axes"):
        L.BatchNormLayer(L.InputLayer((None, 3, 4)), axes=axes)


def test_unknown_kept_size_is_refused(graph):
    with pytest.raises(ValueError, match="specified input sizes"):
        L.BatchNormLayer(L.InputLayer((None, None)))
