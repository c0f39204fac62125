"""Unit tests of `tf1_wn.geometry`, which every layer goes through: kernel
shapes, channel counts, reduce axes, input checks, output sizes and the
scaling choice, against values worked out by hand."""
import numpy as np
import pytest
import tensorflow.compat.v1 as tf

from tf1_wn import geometry
from reference import conv, conv2d_transpose


def test_dense_shapes_and_axes(graph):
    dense = geometry.Dense(7)
    assert dense.kernel_shape(3) == [3, 7]
    assert dense.out_channels(3) == 7
    assert dense.reduce_axes == [0] and dense.channel_axis == -1
    assert dense.check_inputs(tf.placeholder(tf.float32, [None, 4, 3])) == 3


@pytest.mark.parametrize("rows,features,expected", [
    ([16], 64, True),      # the usual MLP batch: scale the output
    ([512], 64, False),    # more rows than features: scale the kernel
    ([None], 64, True),    # unknown batch of a rank-2 input: an MLP
    ([None, 5], 64, False),  # unknown rows of a rank-3 input
    ([2, 5], 64, True),
])
def test_dense_scales_the_smaller_of_output_and_kernel(graph, rows, features,
                                                       expected):
    inputs = tf.placeholder(tf.float32, rows + [features])
    assert geometry.Dense(8).prefers_output_scaling(inputs) is expected


@pytest.mark.parametrize("n,kernel_shape,axes", [
    (1, [3, 2, 5], [0, 1]),
    (2, [3, 3, 2, 5], [0, 1, 2]),
    (3, [3, 3, 3, 2, 5], [0, 1, 2, 3]),
])
def test_conv_shapes_and_axes(graph, n, kernel_shape, axes):
    layer = geometry.Conv(n, 5, 3)
    assert layer.kernel_shape(2) == kernel_shape
    assert layer.reduce_axes == axes
    assert layer.out_channels(2) == 5
    assert not layer.prefers_output_scaling(None)


def test_transposed_and_depthwise_shapes_and_axes(graph):
    up = geometry.ConvTranspose(6, (3, 2))
    assert up.kernel_shape(4) == [3, 2, 6, 4]
    assert up.reduce_axes == [0, 1, 3] and up.out_channels(4) == 6
    depthwise = geometry.DepthwiseConv(3, depth_multiplier=2)
    assert depthwise.kernel_shape(4) == [3, 3, 4, 2]
    assert depthwise.reduce_axes == [0, 1]
    assert depthwise.out_channels(4) == 8


@pytest.mark.parametrize("padding,size,stride,kernel,expected", [
    ("SAME", 5, 2, 3, 10),            # H * s
    ("VALID", 5, 2, 3, 11),           # H * s + k - s
    # Kernel smaller than the stride: H * s, as Keras and tf-slim
    # (slim's testOutputSizeWithStride2x5-style cases; (H - 1) * s + k
    # would give 9 and 13).
    ("VALID", 5, 2, 1, 10),
    ("VALID", 5, 3, 1, 15),
    ("VALID", 4, 3, 2, 12),
    ("VALID", 4, 3, 3, 12),           # k == s
    ([[1, 0], [1, 0]], 5, 2, 3, 10),  # (H - 1) * s + k - before - after
])
def test_transposed_output_size(graph, rng, padding, size, stride, kernel,
                                expected):
    up = geometry.ConvTranspose(2, kernel, strides=stride, padding=padding)
    x = rng.normal(size=(1, size, size, 3))
    w = rng.normal(size=(kernel, kernel, 2, 3))
    out = up.apply(tf.constant(x), tf.constant(w))
    assert out.shape.as_list() == [1, expected, expected, 2]
    with tf.Session() as sess:
        np.testing.assert_allclose(
            sess.run(out), conv2d_transpose(x, w, (stride, stride), padding),
            rtol=1e-12)


def test_dynamic_batch_transposed_output_keeps_static_sizes(graph):
    up = geometry.ConvTranspose(2, 3, strides=2)
    x = tf.placeholder(tf.float32, [None, 4, 5, 3])
    out = up.apply(x, tf.zeros([3, 3, 2, 3]))
    assert out.shape.as_list() == [None, 8, 10, 2]


def test_channels_first_conv_matches_channels_last(graph, rng):
    x = rng.normal(size=(2, 6, 5, 3))
    w = rng.normal(size=(3, 3, 3, 4))
    last = geometry.Conv(2, 4, 3, strides=2, padding="VALID")
    first = geometry.Conv(2, 4, 3, strides=2, padding="VALID",
                          data_format="NCHW")
    out_first = first.apply(tf.constant(np.moveaxis(x, -1, 1)),
                            tf.constant(w))
    assert first.channel_axis == 1
    with tf.Session() as sess:
        np.testing.assert_allclose(
            np.moveaxis(sess.run(out_first), 1, -1),
            conv(x, w, (2, 2), "VALID"), rtol=1e-12)
        np.testing.assert_allclose(
            sess.run(last.apply(tf.constant(x), tf.constant(w))),
            conv(x, w, (2, 2), "VALID"), rtol=1e-12)


def test_explicit_padding_is_applied_as_pairs(graph, rng):
    x = rng.normal(size=(1, 4, 4, 2))
    w = rng.normal(size=(3, 3, 2, 1))
    layer = geometry.Conv(2, 1, 3, padding=[[2, 0], [0, 1]])
    with tf.Session() as sess:
        got = sess.run(layer.apply(tf.constant(x), tf.constant(w)))
    np.testing.assert_allclose(got, conv(x, w, (1, 1), [(2, 0), (0, 1)]),
                               rtol=1e-12)


@pytest.mark.parametrize("build,message", [
    (lambda: geometry.Conv(2, 4, 3, strides=2, dilation_rate=2),
     r"`strides` 2 and `dilation_rate` 2: TensorFlow supports strides > 1 "
     r"only with dilation_rate 1"),
    (lambda: geometry.DepthwiseConv(3, strides=(1, 2)),
     r"`strides` must be equal along height and width"),
    (lambda: geometry.Conv(2, 4, 3, data_format="NCDHW"),
     r"`data_format` must be one of 'NHWC', 'NCHW', got 'NCDHW'"),
    (lambda: geometry.Conv(2, 0, 3), r"`filters` must be a positive integer"),
    (lambda: geometry.Dense(2.5), r"`units` must be a positive integer"),
    (lambda: geometry.ConvTranspose(2, (3, 3, 3)),
     r"`kernel_size` must be an int or a sequence of 2 ints"),
])
def test_bad_configuration_names_the_argument(build, message):
    with pytest.raises(ValueError, match=message):
        build()


def test_inputs_of_the_wrong_rank_or_unknown_channels(graph):
    conv2d = geometry.Conv(2, 4, 3)
    with pytest.raises(ValueError, match=r"`inputs` must have rank 4 "
                       r"\[batch, \*spatial, channels\], got shape"):
        conv2d.check_inputs(tf.placeholder(tf.float32, [None, 5, 3]))
    with pytest.raises(ValueError, match=r"channel dimension \(axis -1\)"):
        conv2d.check_inputs(tf.placeholder(tf.float32, [None, 5, 5, None]))
    first = geometry.Conv(2, 4, 3, data_format="NCHW")
    assert first.check_inputs(tf.placeholder(tf.float32,
                                             [None, 3, 5, 5])) == 3
