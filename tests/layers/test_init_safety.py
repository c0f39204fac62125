"""Data-dependent init never poisons a model: bad init batches fail loudly
and leave g and bias as they were, constant channels stay well scaled,
running the init-mode output performs the init, `init_op` is stable, and
configurations TF would reject deep inside its kernels fail at build time
with the argument named."""
import numpy as np
import pytest
import tensorflow.compat.v1 as tf

import tf1_wn

LAYERS = {
    "dense": (lambda x, **kw: tf1_wn.dense(x, 3, **kw), (None, 4)),
    "nin": (lambda x, **kw: tf1_wn.nin(x, 3, **kw), (None, 2, 2, 4)),
    "conv2d": (lambda x, **kw: tf1_wn.conv2d(x, 3, 3, **kw),
               (None, 5, 5, 4)),
    "conv2d_transpose": (
        lambda x, **kw: tf1_wn.conv2d_transpose(x, 3, 3, strides=2, **kw),
        (None, 3, 3, 4)),
    "depthwise_conv2d": (
        lambda x, **kw: tf1_wn.depthwise_conv2d(x, 3, **kw),
        (None, 5, 5, 4)),
}


def _build(kind):
    build, shape = LAYERS[kind]
    x = tf.placeholder(tf.float32, shape)
    build(x, init=True, scope="layer")
    g, bias = (tf.global_variables("layer/" + name)[0]
               for name in ("g", "bias"))
    return x, g, bias


@pytest.mark.parametrize("kind", sorted(LAYERS))
@pytest.mark.parametrize("bad", [np.nan, np.inf])
def test_non_finite_init_batch_fails_and_leaves_g_and_bias(graph, rng, kind,
                                                           bad):
    x, g, bias = _build(kind)
    batch = rng.normal(size=[4] + list(x.shape.as_list()[1:]))
    batch.flat[5] = bad
    init = tf1_wn.init_op()
    with tf.Session() as sess:
        sess.run(tf.global_variables_initializer())
        g.load(np.full(g.shape.as_list(), 0.7), sess)
        with pytest.raises(tf.errors.InvalidArgumentError,
                           match=r"data init of layer: the init batch "
                           r"holds NaN or inf"):
            sess.run(init, {x: batch})
        np.testing.assert_array_equal(sess.run(g), np.float32(0.7))
        np.testing.assert_array_equal(sess.run(bias), 0.0)


@pytest.mark.parametrize("kind", sorted(LAYERS))
def test_empty_init_batch_fails_and_leaves_g_and_bias(graph, kind):
    x, g, bias = _build(kind)
    init = tf1_wn.init_op()
    empty = np.zeros([0] + list(x.shape.as_list()[1:]))
    with tf.Session() as sess:
        sess.run(tf.global_variables_initializer())
        with pytest.raises(tf.errors.InvalidArgumentError,
                           match=r"data init of layer: the init batch is "
                           r"empty"):
            sess.run(init, {x: empty})
        np.testing.assert_array_equal(sess.run(g), 1.0)
        np.testing.assert_array_equal(sess.run(bias), 0.0)


@pytest.mark.parametrize("lengths,bad", [([0, 0], None), ([2, 3], np.nan)])
def test_cell_data_init_refuses_empty_and_non_finite_batches(graph, rng,
                                                             lengths, bad):
    cell = tf1_wn.WeightNormLSTMCell(3, name="lstm")
    x_value = rng.normal(size=(2, 3, 4))
    if bad is not None:
        x_value[1, 0, 2] = bad
    x = tf.constant(x_value, tf.float32)
    op = cell.data_init(x, sequence_length=tf.constant(lengths))
    g = [v for v in cell.variables if v.op.name == "lstm/input/g"][0]
    with tf.Session() as sess:
        sess.run(tf.global_variables_initializer())
        with pytest.raises(tf.errors.InvalidArgumentError,
                           match="data init of lstm"):
            sess.run(op)
        np.testing.assert_array_equal(sess.run(g), 1.0)


def test_constant_channel_gets_the_unit_gain(graph, rng):
    """A channel constant on the init batch gets g = init_scale (not
    init_scale / sqrt(eps)) and a bias removing its mean; the others get
    the exact statistics, checked in float64 NumPy."""
    x_value = rng.normal(size=(16, 3))
    x_value[:, 2] = 1.5  # feature 2 constant over the batch
    v_value = rng.normal(size=(3, 4))
    v_value[:, 1] = [0.0, 0.0, 2.0]  # output channel 1 sees only feature 2
    x = tf.placeholder(tf.float64, [None, 3])
    out = tf1_wn.dense(x, 4, init=True, init_scale=0.5, scope="d")
    with tf.Session() as sess:
        sess.run(tf.global_variables_initializer())
        tf.global_variables("d/v")[0].load(v_value, sess)
        sess.run(tf1_wn.init_op(), {x: x_value})
        g, bias, y = sess.run([tf.global_variables("d/g")[0],
                               tf.global_variables("d/bias")[0], out],
                              {x: x_value})
    t = x_value @ (v_value / np.linalg.norm(v_value, axis=0))
    var = t.var(axis=0)
    want_g = np.where(var < 1e-8, 0.5, 0.5 / np.sqrt(var + 1e-8))
    assert var[1] < 1e-20 and want_g[1] == 0.5
    np.testing.assert_allclose(g, want_g, rtol=1e-12)
    np.testing.assert_allclose(bias, -t.mean(axis=0) * want_g, rtol=1e-12,
                               atol=1e-12)
    np.testing.assert_allclose(y[:, 1], 0.0, atol=1e-12)
    assert np.all(np.abs(g) < 10)


def test_running_the_init_mode_output_performs_the_init(graph, rng):
    """pixel-cnn's train.py runs the init-mode output, not an init op: the
    g and bias it leaves are those of init_op, on a two-layer stack."""
    x_value = rng.normal(size=(32, 6, 6, 2))
    x = tf.placeholder(tf.float32, [None, 6, 6, 2])

    def model(init):
        h = tf1_wn.conv2d(x, 4, 3, activation=tf.nn.elu, init=init,
                          scope="c")
        return tf1_wn.nin(h, 3, init=init, scope="n")

    init_output = model(True)
    variables = [tf.global_variables(n)[0] for n in
                 ("c/g", "c/bias", "n/g", "n/bias")]
    with tf.Session() as sess:
        sess.run(tf.global_variables_initializer())
        sess.run(init_output, {x: x_value})
        by_output = sess.run(variables)
        sess.run(tf.variables_initializer(variables))
        sess.run(tf1_wn.init_op(), {x: x_value})
        by_op = sess.run(variables)
    for got, want in zip(by_output, by_op):
        assert not np.allclose(want, np.round(want))  # really initialized
        np.testing.assert_allclose(got, want, rtol=1e-6, atol=1e-7)


def test_init_op_is_one_op_per_collection_content(graph):
    x = tf.placeholder(tf.float32, [None, 3])
    tf1_wn.dense(x, 2, init=True, scope="a")
    first = tf1_wn.init_op()
    count = len(graph.get_operations())
    assert tf1_wn.init_op() is first
    assert len(graph.get_operations()) == count
    assert tf1_wn.init_op(scope="a") is not first  # another grouping
    tf1_wn.dense(x, 2, init=True, scope="b")
    second = tf1_wn.init_op()
    assert second is not first
    graph.finalize()
    assert tf1_wn.init_op() is second  # no new op on a finalized graph


# -- build-time errors ------------------------------------------------------

@pytest.mark.parametrize("build,shape,message", [
    (lambda x: tf1_wn.dense(x, 2), (None, 0),
     r"`inputs` must have at least one channel \(axis -1\)"),
    (lambda x: tf1_wn.conv2d(x, 2, 3), (None, 4, 4, 0),
     "at least one channel"),
    (lambda x: tf1_wn.conv2d(x, 2, 5, padding="VALID"), (None, 4, 6, 1),
     r"`kernel_size` \(5, 5\) \(spanning 5 with dilation \(1, 1\)\) is "
     r"larger than spatial dimension 0 of `inputs` \(4\)"),
    (lambda x: tf1_wn.conv1d(x, 2, 3, dilation_rate=3, padding="VALID"),
     (None, 6, 1), r"spanning 7 with dilation \(3,\)"),
    (lambda x: tf1_wn.depthwise_conv2d(x, 3, padding=[[0, 0], [1, 0]]),
     (None, 5, 1, 2), r"spatial dimension 1 of `inputs` \(1 \+ 1 \+ 0\)"),
    (lambda x: tf1_wn.ws_conv2d(x, 2, 4, padding="VALID"), (None, 3, 3, 1),
     "is larger than spatial dimension 0"),
    (lambda x: tf1_wn.conv2d_transpose(x, 2, 2, padding=[[2, 1], [0, 0]]),
     (None, 1, 3, 1), r"`padding` \(\(2, 1\), \(0, 0\)\) removes the whole "
     r"output of spatial dimension 0"),
])
def test_impossible_shapes_fail_at_build_time(graph, build, shape, message):
    with pytest.raises(ValueError, match=message):
        build(tf.placeholder(tf.float32, shape))


def test_valid_kernel_that_fits_exactly_builds(graph):
    out = tf1_wn.conv2d(tf.placeholder(tf.float32, [None, 5, 5, 1]), 2, 5,
                        padding="VALID")
    assert out.shape.as_list() == [None, 1, 1, 2]


@pytest.mark.parametrize("value", [float("nan"), float("inf"), "1.0", True])
def test_forget_bias_must_be_a_finite_number(value):
    with pytest.raises(ValueError, match=r"`forget_bias` must be a finite "
                       r"number"):
        tf1_wn.WeightNormLSTMCell(3, forget_bias=value)


@pytest.mark.parametrize("build", [
    lambda x, df: tf1_wn.conv2d(x, 2, 3, data_format=df),
    lambda x, df: tf1_wn.conv2d_transpose(x, 2, 3, data_format=df),
    lambda x, df: tf1_wn.depthwise_conv2d(x, 3, data_format=df),
    lambda x, df: tf1_wn.ws_conv2d_transpose(x, 2, 3, data_format=df),
    lambda x, df: tf1_wn.WeightNormDepthwiseConv2D(3, data_format=df)(x),
])
def test_data_format_none_means_channels_last_everywhere(graph, build):
    x = tf.placeholder(tf.float32, [None, 5, 5, 3])
    assert build(x, None).shape.as_list() == build(x, "NHWC").shape.as_list()
