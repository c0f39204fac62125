"""Weight-standardized layers: variables, scoping, arg_scope, templates,
layer objects, EMA and error messages."""
import numpy as np
import pytest
import tensorflow.compat.v1 as tf
import tf_slim
from tensorflow.python.eager import context

import tf1_wn
import reference as ref
from reference import ws_paper, ws_timm


def np_layer(kind, standardize, x, w, gain, bias):
    """A channels-last SAME conv2d layer in NumPy: conv(x, gain * ws(w)) +
    bias, standardized over the kernel axes (0, 1, 2)."""
    assert kind == "conv2d"
    w_hat = standardize(w, (0, 1, 2)) * np.reshape(gain, (1, 1, 1, -1))
    return ref.conv(x, w_hat, (1, 1), "SAME") + bias


def _names():
    return sorted(v.op.name for v in tf.global_variables())


def _shapes():
    return {v.op.name: v.shape.as_list() for v in tf.global_variables()}


def test_variables_layouts_and_dtypes(graph):
    x2 = tf.placeholder(tf.float64, [None, 6, 6, 3])
    tf1_wn.ws_conv1d(tf.placeholder(tf.float32, [None, 8, 3]), 4, 3,
                     scope="c1")
    tf1_wn.ws_conv2d(x2, 5, (3, 2), gain=True, scope="c2")
    tf1_wn.ws_conv3d(tf.placeholder(tf.float16, [None, 4, 4, 4, 2]), 3, 2,
                     use_bias=False, scope="c3")
    tf1_wn.ws_conv2d_transpose(x2, 4, 3, strides=2, gain=True, scope="t")
    tf1_wn.ws_depthwise_conv2d(x2, 3, depth_multiplier=2, gain=True,
                               scope="d")
    assert _shapes() == {
        "c1/kernel": [3, 3, 4], "c1/bias": [4],
        "c2/kernel": [3, 2, 3, 5], "c2/gain": [5], "c2/bias": [5],
        "c3/kernel": [2, 2, 2, 2, 3],
        "t/kernel": [3, 3, 4, 3], "t/gain": [4], "t/bias": [4],
        "d/kernel": [3, 3, 3, 2], "d/gain": [6], "d/bias": [6]}
    dtypes = {v.op.name: v.dtype.base_dtype for v in tf.global_variables()}
    assert dtypes["c1/kernel"] == tf.float32
    assert dtypes["c2/gain"] == tf.float64
    assert dtypes["c3/kernel"] == tf.float16
    trainable = {v.op.name for v in tf.trainable_variables()}
    assert trainable == set(_shapes())


def test_output_shapes(graph):
    x = tf.placeholder(tf.float32, [None, 6, 5, 3])
    assert tf1_wn.ws_conv2d(x, 4, 3, strides=2).shape.as_list() == \
        [None, 3, 3, 4]
    assert tf1_wn.ws_conv2d_transpose(x, 4, 3, strides=2).shape.as_list() \
        == [None, 12, 10, 4]
    assert tf1_wn.ws_conv2d_transpose(
        x, 4, 3, strides=2, padding="VALID").shape.as_list() == \
        [None, 13, 11, 4]
    assert tf1_wn.ws_depthwise_conv2d(
        x, 3, depth_multiplier=3, padding="VALID").shape.as_list() == \
        [None, 4, 3, 9]


def test_scope_none_never_shares(graph):
    x = tf.placeholder(tf.float32, [None, 5, 5, 2])
    tf1_wn.ws_conv2d(x, 2, 3)
    tf1_wn.ws_conv2d(x, 2, 3)
    tf1_wn.ws_depthwise_conv2d(x, 3)
    assert _names() == ["ws_conv2d/bias", "ws_conv2d/kernel",
                        "ws_conv2d_1/bias", "ws_conv2d_1/kernel",
                        "ws_depthwise_conv2d/bias",
                        "ws_depthwise_conv2d/kernel"]


def test_same_scope_shares_under_auto_reuse(graph, rng):
    x = tf.placeholder(tf.float32, [None, 5, 5, 2])
    a = tf1_wn.ws_conv2d(x, 3, 3, gain=True, scope="head")
    b = tf1_wn.ws_conv2d(x * 2.0, 3, 3, gain=True, scope="head")
    assert _names() == ["head/bias", "head/gain", "head/kernel"]
    with tf.Session() as sess:
        sess.run(tf.global_variables_initializer())
        sess.run(tf.global_variables(scope="head/bias")[0].assign(
            np.zeros(3)))
        va, vb = sess.run([a, b], {x: rng.normal(size=(2, 5, 5, 2))})
    # Shared kernel and no bias: the layer is linear in its input.
    np.testing.assert_allclose(vb, 2.0 * va, rtol=1e-5, atol=1e-5)


def test_reuse_true_on_missing_scope_raises(graph):
    x = tf.placeholder(tf.float32, [None, 5, 5, 2])
    with pytest.raises(ValueError, match="does not exist"):
        tf1_wn.ws_conv2d(x, 2, 3, scope="missing", reuse=True)


def test_make_template_shares_variables(graph):
    def net(x):
        h = tf1_wn.ws_conv2d(x, 4, 3, activation=tf.nn.relu, gain=True)
        return tf1_wn.ws_depthwise_conv2d(h, 3, variant="bit")

    model = tf.make_template("model", net)
    x = tf.placeholder(tf.float32, [None, 5, 5, 2])
    model(x)
    model(x * 2.0)
    assert _names() == [
        "model/ws_conv2d/bias", "model/ws_conv2d/gain",
        "model/ws_conv2d/kernel", "model/ws_depthwise_conv2d/bias",
        "model/ws_depthwise_conv2d/kernel"]


def test_replicated_tower_loop_shares(graph):
    x = tf.placeholder(tf.float32, [None, 5, 5, 2])
    for i in range(3):
        with tf.name_scope(f"tower_{i}"), tf.variable_scope(
                tf.get_variable_scope(), reuse=i > 0):
            tf1_wn.ws_conv2d(tf1_wn.ws_conv2d(x, 3, 3), 2, 1)
    assert _names() == ["ws_conv2d/bias", "ws_conv2d/kernel",
                        "ws_conv2d_1/bias", "ws_conv2d_1/kernel"]


def test_arg_scope_configures_layers(graph, rng):
    x = tf.placeholder(tf.float64, [None, 5, 5, 2])
    with tf_slim.arg_scope([tf1_wn.ws_conv2d, tf1_wn.ws_depthwise_conv2d],
                           gain=True, use_bias=False, variant="timm"):
        y = tf1_wn.ws_conv2d(x, 3, 3, scope="a")
        tf1_wn.ws_depthwise_conv2d(x, 3, scope="b")
    assert _names() == ["a/gain", "a/kernel", "b/gain", "b/kernel"]
    with tf.Session() as sess:
        sess.run(tf.global_variables_initializer())
        kernel = sess.run(tf.global_variables("a/kernel")[0])
        xv = rng.normal(size=(2, 5, 5, 2))
        out = sess.run(y, {x: xv})
    expected = np_layer("conv2d", ws_timm, xv, kernel, np.ones(3),
                        np.zeros(3))
    np.testing.assert_allclose(out, expected, rtol=1e-9, atol=1e-9)
    with tf_slim.arg_scope([tf1_wn.ws_conv2d], variant="nope"):
        with pytest.raises(ValueError, match="`variant`.*'nope'"):
            tf1_wn.ws_conv2d(x, 3, 3)


def test_layer_object_owns_one_scope(graph, rng):
    layer = tf1_wn.WeightStandardizedConv2D(3, 3, gain=True, name="block")
    with pytest.raises(RuntimeError, match="call the layer"):
        layer.kernel  # noqa: B018
    x = tf.placeholder(tf.float64, [None, 5, 5, 2])
    y = layer(x)
    layer(x * 2.0)
    other = tf1_wn.WeightStandardizedConv2D(3, 3, name="block")
    other(x)
    assert layer.scope_name == "block" and other.scope_name == "block_1"
    assert [v.op.name for v in layer.variables] == [
        "block/kernel", "block/gain", "block/bias"]
    assert other.gain is None
    assert layer.kernel.shape.as_list() == [3, 3, 2, 3]
    with tf.Session() as sess:
        sess.run(tf.global_variables_initializer())
        kernel, gain, bias = sess.run(layer.variables)
        xv = rng.normal(size=(2, 5, 5, 2))
        out = sess.run(y, {x: xv})
    np.testing.assert_allclose(
        out, np_layer("conv2d", ws_paper, xv, kernel, gain, bias),
        rtol=1e-9, atol=1e-9)


@pytest.mark.parametrize("cls, args, rank", [
    (tf1_wn.WeightStandardizedConv1D, (2, 3), 3),
    (tf1_wn.WeightStandardizedConv3D, (2, 2), 5),
    (tf1_wn.WeightStandardizedConv2DTranspose, (2, 3), 4),
    (tf1_wn.WeightStandardizedDepthwiseConv2D, (3,), 4)])
def test_layer_objects_of_every_kind(graph, cls, args, rank):
    layer = cls(*args, variant="bit")
    x = tf.placeholder(tf.float32, [2] + [4] * (rank - 2) + [2])
    layer(x)
    assert [v.op.name.split("/")[-1] for v in layer.variables] == [
        "kernel", "bias"]
    assert layer.scope_name.startswith("ws_")


def test_ema_reads_the_averages(graph, rng):
    x = tf.placeholder(tf.float64, [None, 5, 5, 2])
    y = tf1_wn.ws_conv2d(x, 3, 3, gain=True, scope="c")
    kernel, gain, bias = (tf.global_variables(f"c/{n}")[0]
                          for n in ("kernel", "gain", "bias"))
    ema = tf.train.ExponentialMovingAverage(0.5)
    ema.apply([kernel, gain, bias])
    y_avg = tf1_wn.ws_conv2d(x, 3, 3, gain=True, ema=ema, scope="c")
    shadows = [rng.normal(size=(3, 3, 2, 3)), rng.uniform(0.5, 2, size=3),
               rng.normal(size=3)]
    with tf.Session() as sess:
        sess.run(tf.global_variables_initializer())
        sess.run([ema.average(v).assign(s)
                  for v, s in zip((kernel, gain, bias), shadows)])
        xv = rng.normal(size=(2, 5, 5, 2))
        out_avg, out = sess.run([y_avg, y], {x: xv})
    np.testing.assert_allclose(
        out_avg, np_layer("conv2d", ws_paper, xv, *shadows), rtol=1e-9,
        atol=1e-9)
    assert not np.allclose(out, out_avg)


def test_ema_without_the_average_raises(graph):
    x = tf.placeholder(tf.float32, [None, 5, 5, 2])
    tf1_wn.ws_conv2d(x, 3, 3, scope="c")
    ema = tf.train.ExponentialMovingAverage(0.5)
    with pytest.raises(ValueError, match="no average for c/kernel"):
        tf1_wn.ws_conv2d(x, 3, 3, ema=ema, scope="c")


_X4 = (tf.float32, [None, 5, 5, 2])


@pytest.mark.parametrize("kwargs, pattern", [
    (dict(variant="Paper"), r"`variant` must be one of 'paper', 'paper_tf', "
                            r"'bit', 'timm' or None, got 'Paper'"),
    (dict(variant=3), r"`variant` must be one of .*got 3"),
    (dict(eps_placement="sqrt"),
     r"`eps_placement` must be 'std' .* or 'var' .*got 'sqrt'"),
    (dict(eps=0.0), r"`eps` must be a positive finite number, got 0.0"),
    (dict(eps=-1e-5), r"`eps` must be a positive finite number, got -1e-05"),
    (dict(eps=True), r"`eps` must be a positive finite number, got True"),
    (dict(eps="1e-5"), r"`eps` must be a positive finite number, got '1e-5'"),
    (dict(unbiased="yes"), r"`unbiased` must be True or False, got 'yes'"),
    (dict(variant=None, eps=1e-5),
     r"`variant=None` needs explicit .* missing: eps_placement, unbiased"),
])
def test_bad_standardization_arguments(graph, kwargs, pattern):
    x = tf.placeholder(*_X4)
    with pytest.raises(ValueError, match=pattern):
        tf1_wn.ws_conv2d(x, 3, 3, **kwargs)
    with pytest.raises(ValueError, match=pattern):
        tf1_wn.WeightStandardizedConv2D(3, 3, **kwargs)


def test_unbiased_needs_two_entries_per_channel(graph):
    x = tf.placeholder(*_X4)
    with pytest.raises(ValueError, match=r"`unbiased=True` needs at least 2 "
                                         r"kernel entries per output channel"
                                         r", got 1"):
        tf1_wn.ws_depthwise_conv2d(x, 1)
    tf1_wn.ws_depthwise_conv2d(x, 1, variant="bit")  # biased: allowed


@pytest.mark.parametrize("build, error, pattern", [
    (lambda: tf1_wn.ws_conv2d(tf.placeholder(tf.float32, [None, 5, 2]), 2, 3),
     ValueError, r"`inputs` must have rank 4.*got shape"),
    (lambda: tf1_wn.ws_conv1d(tf.placeholder(tf.float32, [None, 5, 5, 2]),
                              2, 3),
     ValueError, r"`inputs` must have rank 3"),
    (lambda: tf1_wn.ws_conv2d_transpose(
        tf.placeholder(tf.float32, [None, 5, 5, 2, 1]), 2, 3),
     ValueError, r"`inputs` must have rank 4"),
    (lambda: tf1_wn.ws_conv2d(tf.placeholder(tf.int32, [None, 5, 5, 2]),
                              2, 3),
     TypeError, r"`inputs` must have a floating dtype .* got int32"),
    (lambda: tf1_wn.ws_depthwise_conv2d(
        tf.placeholder(tf.float32, [None, 5, 5, None]), 3),
     ValueError, r"channel dimension .* must be known"),
    (lambda: tf1_wn.ws_conv2d(tf.placeholder(tf.float32, [None, 5, 5, 2]),
                              2, 3, activation="relu"),
     TypeError, r"`activation` must be a callable"),
    (lambda: tf1_wn.ws_conv2d(tf.placeholder(tf.float32, [None, 5, 5, 2]),
                              0, 3),
     ValueError, r"`filters` must be a positive integer, got 0"),
    (lambda: tf1_wn.WeightStandardizedConv3D(2, 3, data_format="NHWC"),
     ValueError, r"`data_format` must be one of 'NDHWC', 'NCDHW'"),
])
def test_bad_inputs_and_configuration(graph, build, error, pattern):
    with pytest.raises(error, match=pattern):
        build()


def test_eager_mode_raises_runtime_error_with_instructions():
    x = np.ones([1, 4, 4, 2], np.float32)
    with context.eager_mode():
        for build in (lambda: tf1_wn.ws_conv2d(x, 2, 3),
                      lambda: tf1_wn.ws_depthwise_conv2d(x, 3),
                      lambda: tf1_wn.WeightStandardizedConv2D(2, 3)):
            with pytest.raises(RuntimeError,
                               match="disable_eager_execution"):
                build()
