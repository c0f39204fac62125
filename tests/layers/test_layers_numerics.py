"""Forward values and gradients of every layer kind against float64 NumPy.

For each kind the TF layer (float64) is given random v, g, bias and input;
its output must match `reference` at 1e-10, and its gradients of
``L = sum(R * out)`` (R random) with respect to v, g, bias and the input must
match: finite differences of the NumPy forward give dL/dw and dL/dx exactly
(L is linear in each), and the closed-form weight-norm identity turns dL/dw
into dL/dv and dL/dg.
"""
import numpy as np
import pytest
import tensorflow.compat.v1 as tf

import tf1_wn
import reference as ref
from tf1_wn.layers import recompute as recompute_lib

# Every test runs on native kernels and on composed ops (conftest).
pytestmark = pytest.mark.usefixtures("implementation")


def _nchw(x):
    return np.moveaxis(x, -1, 1)


def _nhwc(x):
    return np.moveaxis(x, 1, -1)


# name: (tf builder, numpy forward on (x, w), input shape, kernel shape,
#        reduce axes, channels_first)
CASES = {
    "dense": (lambda x: tf1_wn.dense(x, 4, scope="l"),
              lambda x, w: ref.dense(x, w), (5, 6), (6, 4), [0], False),
    "nin_rank4": (lambda x: tf1_wn.nin(x, 3, scope="l"),
                  lambda x, w: ref.dense(x, w), (2, 3, 4, 5), (5, 3), [0],
                  False),
    "conv1d_stride2": (
        lambda x: tf1_wn.conv1d(x, 4, 3, strides=2, scope="l"),
        lambda x, w: ref.conv(x, w, (2,), "SAME"),
        (2, 9, 3), (3, 3, 4), [0, 1], False),
    "conv1d_ncw_dilated": (
        lambda x: tf1_wn.conv1d(x, 4, 3, dilation_rate=2, padding="VALID",
                                data_format="NCW", scope="l"),
        lambda x, w: _nchw(ref.conv(_nhwc(x), w, (1,), "VALID", (2,))),
        (2, 3, 11), (3, 3, 4), [0, 1], True),
    "conv2d_same": (
        lambda x: tf1_wn.conv2d(x, 5, 3, scope="l"),
        lambda x, w: ref.conv(x, w, (1, 1), "SAME"),
        (2, 6, 7, 3), (3, 3, 3, 5), [0, 1, 2], False),
    "conv2d_stride2_valid_rect": (
        lambda x: tf1_wn.conv2d(x, 4, (3, 2), strides=(2, 1),
                                padding="VALID", scope="l"),
        lambda x, w: ref.conv(x, w, (2, 1), "VALID"),
        (2, 9, 6, 3), (3, 2, 3, 4), [0, 1, 2], False),
    "conv2d_explicit_nchw": (
        lambda x: tf1_wn.conv2d(
            x, 4, 3, strides=2, data_format="NCHW",
            padding=[[0, 0], [0, 0], [1, 2], [2, 0]], scope="l"),
        lambda x, w: _nchw(ref.conv(_nhwc(x), w, (2, 2),
                                    [(1, 2), (2, 0)])),
        (2, 3, 7, 6), (3, 3, 3, 4), [0, 1, 2], True),
    "conv2d_dilated": (
        lambda x: tf1_wn.conv2d(x, 3, 3, dilation_rate=2, scope="l"),
        lambda x, w: ref.conv(x, w, (1, 1), "SAME", (2, 2)),
        (1, 8, 8, 2), (3, 3, 2, 3), [0, 1, 2], False),
    "conv3d": (
        lambda x: tf1_wn.conv3d(x, 3, 2, strides=(1, 2, 1), scope="l"),
        lambda x, w: ref.conv(x, w, (1, 2, 1), "SAME"),
        (2, 4, 5, 3, 2), (2, 2, 2, 2, 3), [0, 1, 2, 3], False),
    "conv3d_ncdhw": (
        lambda x: tf1_wn.conv3d(x, 3, 2, padding="VALID",
                                data_format="NCDHW", scope="l"),
        lambda x, w: _nchw(ref.conv(_nhwc(x), w, (1, 1, 1), "VALID")),
        (2, 2, 4, 3, 3), (2, 2, 2, 2, 3), [0, 1, 2, 3], True),
    "conv2d_transpose_same": (
        lambda x: tf1_wn.conv2d_transpose(x, 3, 3, strides=2, scope="l"),
        lambda x, w: ref.conv2d_transpose(x, w, (2, 2), "SAME"),
        (2, 4, 3, 5), (3, 3, 3, 5), [0, 1, 3], False),
    "conv2d_transpose_valid": (
        lambda x: tf1_wn.conv2d_transpose(x, 4, (4, 3), strides=(2, 3),
                                          padding="VALID", scope="l"),
        lambda x, w: ref.conv2d_transpose(x, w, (2, 3), "VALID"),
        (2, 3, 4, 2), (4, 3, 4, 2), [0, 1, 3], False),
    "conv2d_transpose_valid_kernel_below_stride": (
        lambda x: tf1_wn.conv2d_transpose(x, 3, (1, 2), strides=(2, 3),
                                          padding="VALID", scope="l"),
        lambda x, w: ref.conv2d_transpose(x, w, (2, 3), "VALID"),
        (2, 3, 4, 2), (1, 2, 3, 2), [0, 1, 3], False),
    "conv2d_transpose_valid_output_padding": (  # pixel-cnn: H*s + k - 1
        lambda x: tf1_wn.conv2d_transpose(x, 3, (2, 3), strides=(2, 3),
                                          padding="VALID",
                                          output_padding=(1, 2), scope="l"),
        lambda x, w: ref.conv2d_transpose(x, w, (2, 3), "VALID", (1, 2)),
        (2, 3, 4, 2), (2, 3, 3, 2), [0, 1, 3], False),
    "conv2d_transpose_same_output_padding": (
        lambda x: tf1_wn.conv2d_transpose(x, 3, 3, strides=2,
                                          output_padding=1, scope="l"),
        lambda x, w: ref.conv2d_transpose(x, w, (2, 2), "SAME", (1, 1)),
        (2, 3, 4, 2), (3, 3, 3, 2), [0, 1, 3], False),
    "conv2d_transpose_explicit_nchw": (
        lambda x: tf1_wn.conv2d_transpose(
            x, 3, 5, strides=2, padding=[[2, 1], [2, 1]],
            data_format="NCHW", scope="l"),
        lambda x, w: _nchw(ref.conv2d_transpose(
            _nhwc(x), w, (2, 2), [(2, 1), (2, 1)])),
        (2, 4, 4, 3), (5, 5, 3, 4), [0, 1, 3], True),
    "depthwise": (
        lambda x: tf1_wn.depthwise_conv2d(x, 3, depth_multiplier=2,
                                          strides=2, scope="l"),
        lambda x, w: ref.depthwise_conv2d(x, w, (2, 2), "SAME"),
        (2, 7, 6, 3), (3, 3, 3, 2), [0, 1], False),
    "depthwise_nchw_dilated": (
        lambda x: tf1_wn.depthwise_conv2d(x, 2, dilation_rate=2,
                                          data_format="NCHW", scope="l"),
        lambda x, w: _nchw(ref.depthwise_conv2d(_nhwc(x), w, (1, 1), "SAME",
                                                (2, 2))),
        (1, 2, 6, 5), (2, 2, 2, 1), [0, 1], True),
}


def _random_problem(rng, case):
    _, forward, x_shape, v_shape, reduce_axes, channels_first = case
    x = rng.normal(size=x_shape)
    v = rng.normal(size=v_shape)
    out_channels = int(np.prod([v_shape[a] for a in range(len(v_shape))
                                if a not in reduce_axes]))
    g = rng.uniform(0.5, 2.0, size=out_channels)
    bias = rng.normal(size=out_channels)
    return x, v, g, bias


def _channel_axis(case):
    return 1 if case[5] else -1


def _numpy_output(case, x, w, bias):
    y = case[1](x, w)
    axis = _channel_axis(case)
    shape = [1] * y.ndim
    shape[axis] = -1
    return y + bias.reshape(shape)


@pytest.mark.parametrize("recompute", [False, True],
                         ids=["kept_kernel", "recomputed_kernel"])
@pytest.mark.parametrize("name", sorted(CASES))
def test_forward_and_gradients_match_numpy(graph, rng, name, recompute):
    case = CASES[name]
    x, v, g, bias = _random_problem(rng, case)
    reduce_axes = case[4]
    x_ph = tf.placeholder(tf.float64, x.shape)
    with tf1_wn.recompute_kernels(recompute):
        out = case[0](x_ph)
    # Dense layers with fewer rows than features scale their output: no
    # kernel to recompute.
    rebuilt = recompute_lib._REBUILDERS.get(graph, {})
    assert len(rebuilt) == (recompute and name != "dense")
    variables = {var.op.name.split("/")[-1]: var
                 for var in tf.global_variables()}
    assert sorted(variables) == ["bias", "g", "v"]
    assert variables["g"].shape.as_list() == [g.size]
    w_np = ref.weight_norm(v, g, reduce_axes)
    expected = _numpy_output(case, x, w_np, bias)
    readout = rng.normal(size=expected.shape)
    loss = tf.reduce_sum(out * readout)
    grads = tf.gradients(loss, [variables["v"], variables["g"],
                                variables["bias"], x_ph])
    with tf.Session() as sess:
        for key, value in (("v", v), ("g", g), ("bias", bias)):
            variables[key].load(value, sess)
        got, got_grads = sess.run([out, grads], {x_ph: x})

    assert got.shape == expected.shape
    np.testing.assert_allclose(got, expected, rtol=1e-10, atol=1e-10)

    def loss_of_w(w):
        return np.sum(readout * _numpy_output(case, x, w, bias))

    def loss_of_x(x_value):
        return np.sum(readout * _numpy_output(case, x_value, w_np, bias))

    grad_w = ref.numeric_gradient(loss_of_w, w_np.copy())
    grad_v, grad_g = ref.weight_norm_gradients(v, g, reduce_axes, grad_w)
    grad_x = ref.numeric_gradient(loss_of_x, x.copy())
    axes = tuple(a for a in range(readout.ndim)
                 if a != _channel_axis(case) % readout.ndim)
    grad_bias = readout.sum(axis=axes)
    for got_grad, want, label in zip(
            got_grads, (grad_v, grad_g, grad_bias, grad_x),
            ("v", "g", "bias", "inputs")):
        np.testing.assert_allclose(got_grad, want, rtol=1e-7, atol=1e-7,
                                   err_msg=f"gradient of {label}")


def test_closed_form_gradient_identity_against_finite_differences(rng):
    """The oracle itself: closed-form dL/dv, dL/dg equal finite differences
    of L(g * v / ||v||) computed in NumPy."""
    v = rng.normal(size=(3, 3, 2, 4))
    g = rng.uniform(0.5, 2.0, size=4)
    readout = rng.normal(size=v.shape) + v  # a loss that is not linear in v
    axes = [0, 1, 2]

    def loss(v_value, g_value):
        return np.sum(np.tanh(ref.weight_norm(v_value, g_value, axes))
                      * readout)

    w = ref.weight_norm(v, g, axes)
    grad_w = (1 - np.tanh(w) ** 2) * readout
    grad_v, grad_g = ref.weight_norm_gradients(v, g, axes, grad_w)
    np.testing.assert_allclose(
        grad_v, ref.numeric_gradient(lambda a: loss(a, g), v.copy()),
        rtol=1e-6, atol=1e-8)
    np.testing.assert_allclose(
        grad_g, ref.numeric_gradient(lambda a: loss(v, a), g.copy()),
        rtol=1e-6, atol=1e-8)


@pytest.mark.parametrize("name", ["dense", "conv2d_same",
                                  "conv2d_transpose_same", "depthwise"])
def test_output_invariant_to_scaling_each_v_column(graph, rng, name):
    case = CASES[name]
    x, v, g, bias = _random_problem(rng, case)
    reduce_axes = case[4]
    x_ph = tf.placeholder(tf.float64, x.shape)
    out = case[0](x_ph)
    var = {v_.op.name.split("/")[-1]: v_ for v_ in tf.global_variables()}
    kept_shape = [1 if a in reduce_axes else n for a, n in enumerate(v.shape)]
    factors = rng.uniform(0.01, 100.0, size=kept_shape)
    with tf.Session() as sess:
        var["g"].load(g, sess)
        var["bias"].load(bias, sess)
        var["v"].load(v, sess)
        before = sess.run(out, {x_ph: x})
        var["v"].load(v * factors, sess)
        after = sess.run(out, {x_ph: x})
    np.testing.assert_allclose(after, before, rtol=1e-10, atol=1e-12)
    assert np.std(before) > 0.1


def test_activation_and_no_bias(graph, rng):
    x = rng.normal(size=(6, 5))
    v = rng.normal(size=(5, 3))
    g = rng.uniform(0.5, 2, size=3)
    x_ph = tf.placeholder(tf.float64, x.shape)
    out = tf1_wn.dense(x_ph, 3, activation=tf.nn.relu, use_bias=False,
                       scope="d")
    names = sorted(var.op.name for var in tf.global_variables())
    assert names == ["d/g", "d/v"]
    with tf.Session() as sess:
        tf.global_variables()[0].load(v, sess)
        tf.global_variables()[1].load(g, sess)
        got = sess.run(out, {x_ph: x})
    np.testing.assert_allclose(
        got, np.maximum(ref.dense(x, ref.weight_norm(v, g, [0])), 0),
        rtol=1e-10, atol=1e-12)


def test_transpose_output_sizes_follow_keras(graph):
    x = tf.placeholder(tf.float32, [None, 5, 7, 2])
    same = tf1_wn.conv2d_transpose(x, 3, 4, strides=3)
    valid = tf1_wn.conv2d_transpose(x, 3, 4, strides=3, padding="VALID")
    assert same.shape.as_list() == [None, 15, 21, 3]
    assert valid.shape.as_list() == [None, 16, 22, 3]
    with tf.Session() as sess:
        sess.run(tf.global_variables_initializer())
        got = sess.run(valid, {x: np.ones([2, 5, 7, 2], np.float32)})
    assert got.shape == (2, 16, 22, 3)


@pytest.mark.parametrize("build", [
    lambda x: tf1_wn.conv2d_transpose(x, 3, 2, strides=5, padding="VALID"),
    lambda x: tf1_wn.ws_conv2d_transpose(x, 3, 2, strides=5,
                                         padding="VALID"),
    lambda x: tf1_wn.WeightNormConv2DTranspose(3, 2, strides=5,
                                               padding="VALID")(x),
    lambda x: tf1_wn.WeightStandardizedConv2DTranspose(
        3, 2, strides=5, padding="VALID")(x),
])
def test_transpose_valid_kernel_below_stride_tiles_h_times_s(graph, build):
    """Keras / tf-slim: VALID gives H * s + max(k - s, 0), i.e. H * s for a
    2x2 kernel at stride 5 (the rows no kernel tap reaches are zero + bias)
    where (H - 1) * s + k would give 17 and 27."""
    x = tf.placeholder(tf.float32, [None, 4, 6, 2])
    out = build(x)
    assert out.shape.as_list() == [None, 20, 30, 3]
    with tf.Session() as sess:
        sess.run(tf.global_variables_initializer())
        got = sess.run(out, {x: np.ones([2, 4, 6, 2], np.float32)})
    assert got.shape == (2, 20, 30, 3)
    # Rows 2-4 of every 5 are out of the kernel's reach: bias only (0).
    np.testing.assert_array_equal(got[:, 2:5], 0)
    assert np.abs(got[:, :2]).max() > 0


@pytest.mark.parametrize("build, size", [
    (lambda x: tf1_wn.conv2d_transpose(x, 2, 3, strides=2,
                                       padding="VALID", output_padding=1),
     4 * 2 + 3 - 1),                                   # pixel-cnn's size
    (lambda x: tf1_wn.conv2d_transpose(x, 2, 4, strides=2,
                                       output_padding=1), 3 * 2 + 1),
    (lambda x: tf1_wn.ws_conv2d_transpose(x, 2, 3, strides=3,
                                          padding="VALID",
                                          output_padding=(2, 0)), None),
    (lambda x: tf1_wn.WeightNormConv2DTranspose(
        2, 3, strides=2, padding="VALID", output_padding=1)(x), 10),
])
def test_output_padding_sizes(graph, build, size):
    """Keras's deconv_output_length with output_padding."""
    out = build(tf.placeholder(tf.float32, [None, 4, 4, 3]))
    if size is None:  # (H - 1) * s + k + p per dimension
        assert out.shape.as_list() == [None, 14, 12, 2]
    else:
        assert out.shape.as_list()[1] == size


def test_output_padding_data_init_covers_the_padded_output(graph, rng):
    """Data init is exact over the output actually produced, padded rows
    and columns included."""
    x = tf.constant(rng.normal(size=(4, 3, 3, 2)))
    out = tf1_wn.conv2d_transpose(x, 3, 3, strides=2, padding="VALID",
                                  output_padding=1, init=True,
                                  init_scale=0.5, scope="up")
    after = tf1_wn.conv2d_transpose(x, 3, 3, strides=2, padding="VALID",
                                    output_padding=1, scope="up")
    with tf.Session() as sess:
        sess.run(tf.global_variables_initializer())
        sess.run(tf1_wn.init_op())
        got = sess.run(after)
    assert got.shape == (4, 8, 8, 3)
    np.testing.assert_allclose(got.mean(axis=(0, 1, 2)), 0, atol=1e-10)
    np.testing.assert_allclose(got.std(axis=(0, 1, 2)), 0.5, rtol=1e-7)
    assert out.shape.as_list() == [4, 8, 8, 3]


@pytest.mark.parametrize("kwargs, match", [
    (dict(strides=2, output_padding=2), "smaller than `strides`"),
    (dict(strides=2, output_padding=(0, -1)), "output_padding"),
    (dict(strides=2, kernel_size=4, output_padding=0),
     "an even kernel needs output_padding >= 1"),
])
def test_output_padding_errors_name_the_argument(graph, kwargs, match):
    options = dict(kernel_size=3)
    options.update(kwargs)
    with pytest.raises(ValueError, match=match):
        tf1_wn.conv2d_transpose(tf.zeros([1, 4, 4, 2]), 2, **options)
