"""The Lasagne mirror's merge and pooling layers against float64 NumPy
(explicit loops for pooling, never TF), with their shape rules and errors."""
import numpy as np
import pytest
import tensorflow.compat.v1 as tf

from tf1_wn.compat import lasagne

L = lasagne.layers
F64 = tf.float64


def np_pool2d(x, pool, stride, mode):
    """Theano pool_2d, ignore_border=True, no padding: x (N, C, H, W)."""
    n, c, h, w = x.shape
    oh, ow = (h - pool[0]) // stride[0] + 1, (w - pool[1]) // stride[1] + 1
    out = np.empty((n, c, oh, ow))
    for i in range(oh):
        for j in range(ow):
            window = x[:, :, i * stride[0]:i * stride[0] + pool[0],
                       j * stride[1]:j * stride[1] + pool[1]]
            out[:, :, i, j] = (window.max(axis=(2, 3)) if mode == "max"
                               else window.mean(axis=(2, 3)))
    return out


def _run(layer, feed):
    out = L.get_output(layer)
    with tf.Session() as sess:
        sess.run(tf.global_variables_initializer())
        return sess.run(out, feed)


@pytest.mark.parametrize("pool,stride,mode", [
    (2, None, "max"), (3, 2, "max"), ((2, 3), (1, 2), "average_inc_pad"),
    (2, 1, "average_exc_pad")])
def test_pool2d_matches_numpy(graph, rng, pool, stride, mode):
    x = rng.normal(size=(2, 3, 7, 8))
    inputs = L.InputLayer((None, 3, 7, 8), input_var=tf.placeholder(
        F64, (None, 3, 7, 8)))
    layer = L.Pool2DLayer(inputs, pool, stride=stride, mode=mode)
    pool_pair = pool if isinstance(pool, tuple) else (pool, pool)
    stride = pool_pair if stride is None else stride
    stride_pair = stride if isinstance(stride, tuple) else (stride, stride)
    expected = np_pool2d(x, pool_pair, stride_pair, mode)
    assert layer.output_shape == (None, 3) + expected.shape[2:]
    got = _run(layer, {inputs.input_var: x})
    np.testing.assert_allclose(got, expected, rtol=1e-12)


def test_max_pool_gradient_routes_to_the_maximum(graph, rng):
    x = rng.normal(size=(1, 2, 4, 4))
    x_t = tf.constant(x)
    inputs = L.InputLayer((1, 2, 4, 4), input_var=x_t)
    out = L.get_output(L.MaxPool2DLayer(inputs, 2))
    grad = tf.gradients(tf.reduce_sum(out), x_t)[0]
    with tf.Session() as sess:
        g = sess.run(grad)
    expected = np.zeros_like(x)
    for c in range(2):
        for i in range(2):
            for j in range(2):
                window = x[0, c, 2 * i:2 * i + 2, 2 * j:2 * j + 2]
                a, b = np.unravel_index(window.argmax(), window.shape)
                expected[0, c, 2 * i + a, 2 * j + b] = 1.0
    np.testing.assert_array_equal(g, expected)


@pytest.mark.parametrize("kwargs,message", [
    (dict(pool_size=2, pad=1), "pad=1 is not supported"),
    (dict(pool_size=2, ignore_border=False), "ignore_border=False"),
    (dict(pool_size=2, mode="sum"), "mode must be one of"),
    (dict(pool_size=9), "larger than the input"),
    (dict(pool_size=0), "`pool_size` must contain positive integers"),
])
def test_pool2d_rejects_what_it_does_not_mirror(graph, kwargs, message):
    inputs = L.InputLayer((None, 3, 7, 8))
    with pytest.raises(ValueError, match=message):
        L.Pool2DLayer(inputs, **kwargs)


def test_concat_and_sum_match_numpy_in_a_network(graph, rng):
    """Two conv branches joined by ConcatLayer and ElemwiseSumLayer, then a
    dense layer: the parameters and the numbers follow NumPy."""
    x = rng.normal(size=(2, 3, 5, 5))
    inputs = L.InputLayer((None, 3, 5, 5), input_var=tf.placeholder(
        F64, (None, 3, 5, 5)))
    a = L.NINLayer(inputs, 4, nonlinearity=None)
    b = L.NINLayer(inputs, 2, nonlinearity=None)
    c = L.NINLayer(inputs, 4, nonlinearity=None)
    joined = L.ConcatLayer([a, b])
    summed = L.ElemwiseSumLayer([a, c], coeffs=[0.5, -2.0])
    assert joined.output_shape == (None, 6, 5, 5)
    assert summed.output_shape == (None, 4, 5, 5)
    params = L.get_all_params([joined, summed])
    assert len(params) == 6  # W and b of a, b, c; a's once
    outs = L.get_output([joined, summed])
    with tf.Session() as sess:
        sess.run(tf.global_variables_initializer())
        values = sess.run(params)
        got_joined, got_summed = sess.run(outs, {inputs.input_var: x})
    Wa, ba, Wb, bb, Wc, bc = values

    def nin(W, bias):
        return np.einsum("nchw,co->nohw", x, W) + bias[None, :, None, None]

    expected_joined = np.concatenate([nin(Wa, ba), nin(Wb, bb)], axis=1)
    expected_summed = 0.5 * nin(Wa, ba) - 2.0 * nin(Wc, bc)
    # Sums of products near 0 cancel: bound the error by the scale.
    for got, expected in ((got_joined, expected_joined),
                          (got_summed, expected_summed)):
        np.testing.assert_allclose(got, expected, rtol=1e-12,
                                   atol=1e-13 * np.abs(expected).max())


def test_concat_on_the_last_axis_and_unknown_sizes(graph):
    a = L.InputLayer((None, 3))
    b = L.InputLayer((None, 5))
    assert L.ConcatLayer([a, b], axis=-1).output_shape == (None, 8)
    c = L.InputLayer((None, None))
    assert L.ConcatLayer([a, c], axis=1).output_shape == (None, None)


@pytest.mark.parametrize("build,error,message", [
    (lambda a, b, c: L.ConcatLayer([a, c]), ValueError, "agree on axis 2"),
    (lambda a, b, c: L.ConcatLayer([a, b], axis=4), ValueError,
     "axis must be an int in"),
    (lambda a, b, c: L.ConcatLayer([a, b], cropping=[None, "center"]),
     ValueError, "cropping"),
    (lambda a, b, c: L.ConcatLayer([]), ValueError, "at least one layer"),
    (lambda a, b, c: L.ConcatLayer(a), TypeError, "list of lasagne Layers"),
    (lambda a, b, c: L.ElemwiseSumLayer([a, b]), ValueError,
     "agree on axis 1"),
    (lambda a, b, c: L.ElemwiseSumLayer([a, a], coeffs=[1]), ValueError,
     "one entry per incoming"),
    (lambda a, b, c: L.ElemwiseSumLayer([a, a], coeffs="x"), TypeError,
     "coeffs must be numbers"),
])
def test_merge_errors_name_the_problem(graph, build, error, message):
    a = L.InputLayer((None, 3, 4, 4))
    b = L.InputLayer((None, 5, 4, 4))
    c = L.InputLayer((None, 3, 6, 4))
    with pytest.raises(error, match=message):
        build(a, b, c)


def test_merge_of_mixed_dtypes_is_refused(graph):
    a = L.InputLayer(
        (None, 3), input_var=tf.placeholder(tf.float32, (None, 3)))
    b = L.InputLayer((None, 3), input_var=tf.placeholder(F64, (None, 3)))
    with pytest.raises(TypeError, match="share one dtype"):
        L.ElemwiseSumLayer([a, b])
