"""Variable scopes, sharing, templates, towers, arg_scope, trainable_g, EMA."""
import numpy as np
import pytest
import tensorflow.compat.v1 as tf
import tf_slim

import tf1_wn
import reference as ref


def _names():
    return sorted(v.op.name for v in tf.global_variables())


def test_scope_none_never_shares(graph):
    x = tf.placeholder(tf.float32, [None, 3])
    tf1_wn.dense(x, 2)
    tf1_wn.dense(x, 2)
    tf1_wn.conv1d(tf.expand_dims(x, -1), 2, 2)
    assert _names() == ["conv1d/bias", "conv1d/g", "conv1d/v",
                        "dense/bias", "dense/g", "dense/v",
                        "dense_1/bias", "dense_1/g", "dense_1/v"]


def test_same_scope_shares_under_auto_reuse(graph, rng):
    x = tf.placeholder(tf.float32, [None, 3])
    a = tf1_wn.dense(x, 2, scope="head")
    b = tf1_wn.dense(x * 2.0, 2, scope="head")
    init_out = tf1_wn.dense(x, 2, scope="head", init=True)
    assert _names() == ["head/bias", "head/g", "head/v"]
    with tf.Session() as sess:
        sess.run(tf.global_variables_initializer())
        xv = rng.normal(size=(4, 3))
        va, vb = sess.run([a, b], {x: xv})
        sess.run(tf1_wn.init_op(), {x: xv})
    np.testing.assert_allclose(vb, 2.0 * va, rtol=1e-5, atol=1e-6)
    assert init_out.shape.as_list() == [None, 2]


def test_reuse_true_on_missing_scope_raises(graph):
    x = tf.placeholder(tf.float32, [None, 3])
    with pytest.raises(ValueError, match="does not exist"):
        tf1_wn.dense(x, 2, scope="missing", reuse=True)


def test_make_template_shares_variables(graph, rng):
    def net(x, init=False):
        h = tf1_wn.conv2d(x, 4, 3, activation=tf.nn.relu, init=init)
        h = tf1_wn.conv2d(h, 4, 3, init=init)
        return tf1_wn.dense(tf.reshape(h, [-1, 5 * 5 * 4]), 3, init=init)

    model = tf.make_template("model", net)
    x = tf.placeholder(tf.float32, [None, 5, 5, 2])
    y_init = model(x, init=True)
    y1 = model(x)
    y2 = model(x)
    assert len(tf.global_variables()) == 9
    assert all(n.startswith("model/") for n in _names())
    with tf.Session() as sess:
        sess.run(tf.global_variables_initializer())
        xv = rng.normal(size=(8, 5, 5, 2))
        sess.run(tf1_wn.init_op(), {x: xv})
        a, b, c = sess.run([y_init, y1, y2], {x: xv})
    np.testing.assert_allclose(b, c)
    np.testing.assert_allclose(a, b, rtol=1e-4, atol=1e-4)


def test_replicated_tower_loop_shares(graph):
    x = tf.placeholder(tf.float32, [None, 4])
    outputs = []
    for i in range(3):
        with tf.name_scope(f"tower_{i}"), tf.variable_scope(
                tf.get_variable_scope(), reuse=i > 0):
            outputs.append(tf1_wn.dense(tf1_wn.dense(x, 5), 2))
    assert _names() == ["dense/bias", "dense/g", "dense/v",
                        "dense_1/bias", "dense_1/g", "dense_1/v"]


def test_arg_scope_configures_layers(graph):
    x = tf.placeholder(tf.float32, [None, 6, 6, 2])
    with tf_slim.arg_scope([tf1_wn.conv2d, tf1_wn.dense],
                           activation=tf.nn.relu, trainable_g=False,
                           init=True, init_scale=0.5):
        h = tf1_wn.conv2d(x, 3, 3)
        y = tf1_wn.dense(tf.reshape(h, [-1, 108]), 2)
    assert y.op.type == "Relu" and h.op.type == "Relu"
    assert len(tf.get_collection(tf1_wn.INIT_OPS)) == 2
    trainable = sorted(v.op.name for v in tf.trainable_variables())
    assert trainable == ["conv2d/bias", "conv2d/v", "dense/bias", "dense/v"]


def test_trainable_g_false_keeps_g_out_of_training(graph):
    x = tf.placeholder(tf.float32, [None, 3])
    tf1_wn.dense(x, 2, trainable_g=False, scope="d")
    assert sorted(v.op.name for v in tf.trainable_variables()) == [
        "d/bias", "d/v"]
    assert "d/g" in _names()


def test_ema_reads_averaged_variables_after_sync(graph, rng):
    x = tf.placeholder(tf.float64, [None, 3])
    y = tf1_wn.dense(x, 2, scope="d", init=True)
    variables = tf.trainable_variables()
    ema = tf.train.ExponentialMovingAverage(decay=0.5)  # exact in float32
    ema_update = ema.apply(variables)
    y_avg = tf1_wn.dense(x, 2, scope="d", ema=ema)
    sync = tf1_wn.sync_ema(ema)
    v, g, b = variables
    xv = rng.normal(size=(16, 3))
    with tf.Session() as sess:
        sess.run(tf.global_variables_initializer())
        sess.run(tf1_wn.init_op(), {x: xv})
        sess.run(sync)
        raw = sess.run([v, g, b])
        shadows = sess.run([ema.average(var) for var in variables])
        for a, c in zip(raw, shadows):
            np.testing.assert_array_equal(a, c)
        # move the raw variables, update the average once
        new = [val + rng.normal(size=val.shape) for val in raw]
        for var, val in zip(variables, new):
            var.load(val, sess)
        sess.run(ema_update)
        got = sess.run(y_avg, {x: xv})
    avg = [0.5 * a + 0.5 * n for a, n in zip(raw, new)]
    expected = ref.dense(xv, ref.weight_norm(avg[0], avg[1], [0])) + avg[2]
    # Outputs near 0 come from cancellation: bound the error by the scale.
    np.testing.assert_allclose(got, expected, rtol=1e-10,
                               atol=1e-12 * np.abs(expected).max())
    assert y.shape.as_list() == [None, 2]


def test_ema_without_average_for_trainable_variable_raises(graph):
    x = tf.placeholder(tf.float32, [None, 3])
    tf1_wn.dense(x, 2, scope="d")
    ema = tf.train.ExponentialMovingAverage(0.9)
    with pytest.raises(ValueError, match="d/v"):
        tf1_wn.dense(x, 2, scope="d", ema=ema)
    with pytest.raises(ValueError, match="ema"):
        tf1_wn.dense(x, 2, scope="d", ema=ema, init=True)
    with pytest.raises(TypeError, match="ExponentialMovingAverage"):
        tf1_wn.sync_ema("not an ema")


def test_layer_objects_with_the_same_name_do_not_share(graph):
    x = tf.placeholder(tf.float32, [None, 3])
    first = tf1_wn.WeightNormDense(2, name="block")
    second = tf1_wn.WeightNormDense(2, name="block")
    first(x)
    first(x * 2.0)
    second(x)
    assert first.scope_name == "block" and second.scope_name == "block_1"
    assert _names() == ["block/bias", "block/g", "block/v",
                        "block_1/bias", "block_1/g", "block_1/v"]
