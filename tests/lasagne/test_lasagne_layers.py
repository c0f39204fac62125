"""The Lasagne mirror's layers against a float64 NumPy re-implementation of
Lasagne/Theano semantics (explicit loops, never TF): convolutions with
stride 2 and every pad mode, Conv1D, the deconvolution, weight norm with
data-dependent init over a whole stack, and gradients by central finite
differences of the NumPy forward pass."""
import numpy as np
import pytest
import tensorflow.compat.v1 as tf

from tf1_wn.compat import lasagne

F64 = tf.float64


# ---------------------------------------------------------------- NumPy refs

def np_conv2d(x, W, stride=(1, 1), pad=(0, 0), flip=True):
    """Lasagne Conv2DLayer without bias: x (N,C,H,W), W (O,C,kh,kw),
    symmetric zero padding, true convolution when flip."""
    if flip:
        W = W[:, :, ::-1, ::-1]
    xp = np.pad(x, ((0, 0), (0, 0), (pad[0], pad[0]), (pad[1], pad[1])))
    _, _, H, Wd = xp.shape
    _, _, kh, kw = W.shape
    oh, ow = (H - kh) // stride[0] + 1, (Wd - kw) // stride[1] + 1
    out = np.zeros((x.shape[0], W.shape[0], oh, ow))
    for i in range(oh):
        for j in range(ow):
            patch = xp[:, :, i * stride[0]:i * stride[0] + kh,
                       j * stride[1]:j * stride[1] + kw]
            out[:, :, i, j] = np.tensordot(patch, W, axes=([1, 2, 3],
                                                           [1, 2, 3]))
    return out


def np_conv1d(x, W, stride=1, pad=0, flip=True):
    return np_conv2d(x[:, :, None, :], W[:, :, None, :], (1, stride),
                     (0, pad), flip)[:, :, 0, :]


def np_deconv2d(y, W, target_hw, stride):
    """improved-gan Deconv2DLayer: the adjoint of np_conv2d (flip, pad k//2)
    from a (N, C_out, *target_hw) image to y (N, C_in, h, w); W is
    (C_in, C_out, kh, kw)."""
    Wf = W[:, :, ::-1, ::-1]
    _, cout, kh, kw = W.shape
    ph, pw = kh // 2, kw // 2
    out = np.zeros((y.shape[0], cout, target_hw[0] + 2 * ph,
                    target_hw[1] + 2 * pw))
    for i in range(y.shape[2]):
        for j in range(y.shape[3]):
            out[:, :, i * stride[0]:i * stride[0] + kh,
                j * stride[1]:j * stride[1] + kw] += np.tensordot(
                    y[:, :, i, j], Wf, axes=([1], [0]))
    return out[:, :, ph:ph + target_hw[0], pw:pw + target_hw[1]]


def np_dense(x, W):
    return x.reshape(x.shape[0], -1) @ W


def np_nin(x, W):
    return np.einsum("nc...,cu->nu...", x, W)


def np_weight_norm(v, g, axes, eps):
    norm = np.sqrt(np.sum(v ** 2, axis=axes, keepdims=True) + eps)
    shape = [1] * v.ndim
    channel = [a for a in range(v.ndim) if a not in axes][0]
    shape[channel] = -1
    return v * g.reshape(shape) / norm


def pair(value):
    return tuple(value) if isinstance(value, tuple) else (value, value)


def np_lrelu(x, a=0.2):
    return np.maximum(x, a * x)


def channel(param, ndim):
    return param.reshape([1, -1] + [1] * (ndim - 2))


def moments(t):
    axes = (0,) + tuple(range(2, t.ndim))
    return t.mean(axis=axes), t.var(axis=axes)


def rel_err(a, b):
    return np.max(np.abs(np.asarray(a) - b)) / np.max(np.abs(b))


def run(fetches, feed=None):
    with tf.Session() as sess:
        sess.run(tf.global_variables_initializer())
        return sess.run(fetches, feed)


def conv_input(rng, shape):
    return lasagne.layers.InputLayer((None,) + shape[1:], dtype=F64)


# --------------------------------------------------------------- plain layers

@pytest.mark.parametrize("pad,stride,filter_size,flip", [
    (1, 2, 3, True),          # stride 2 on an even size: TF SAME would differ
    ("valid", 1, 3, True),
    ("same", 2, 5, True),
    ("full", 1, (2, 3), True),
    ((2, 0), (1, 2), 3, False),
])
def test_conv2d_matches_numpy(graph, rng, pad, stride, filter_size, flip):
    x = rng.normal(size=(3, 2, 8, 7))
    l_in = lasagne.layers.InputLayer((None, 2, 8, 7), dtype=F64)
    W = rng.normal(size=(4, 2) + pair(filter_size))
    b = rng.normal(size=4)
    layer = lasagne.layers.Conv2DLayer(l_in, 4, filter_size, stride=stride,
                                       pad=pad, W=W, b=b, flip_filters=flip,
                                       nonlinearity=lasagne.nn.lrelu)
    out = lasagne.layers.get_output(layer, x)
    k = np.array(W.shape[2:])
    pads = {"valid": (0, 0), "same": tuple(k // 2), "full": tuple(k - 1)}
    p = pads[pad] if isinstance(pad, str) else pair(pad)
    s = pair(stride)
    expected = np_lrelu(np_conv2d(x, W, s, p, flip) + channel(b, 4))
    got = run(out)
    assert got.shape == expected.shape
    assert tuple(layer.output_shape[1:]) == expected.shape[1:]
    assert rel_err(got, expected) < 1e-12


def test_conv2d_stride2_differs_from_tf_same(graph, rng):
    # The pitfall the mirror avoids: TF 'SAME' pads (0, 1) here.
    x = rng.normal(size=(2, 3, 8, 8))
    W = rng.normal(size=(4, 3, 3, 3))
    l_in = lasagne.layers.InputLayer((None, 3, 8, 8), dtype=F64)
    layer = lasagne.layers.Conv2DLayer(l_in, 4, 3, stride=2, pad="same", W=W,
                                       nonlinearity=None)
    tf_same = tf.transpose(tf.nn.conv2d(
        tf.transpose(tf.constant(x), (0, 2, 3, 1)),
        tf.constant(np.transpose(W[:, :, ::-1, ::-1], (2, 3, 1, 0))),
        strides=2, padding="SAME"), (0, 3, 1, 2))
    got, same = run([lasagne.layers.get_output(layer, x), tf_same])
    expected = np_conv2d(x, W, (2, 2), (1, 1))
    assert rel_err(got, expected) < 1e-12
    assert rel_err(same, expected) > 1e-3


@pytest.mark.parametrize("pad,stride", [(0, 1), (2, 2), ("same", 1),
                                        ("full", 3)])
def test_conv1d_matches_numpy(graph, rng, pad, stride):
    x = rng.normal(size=(3, 2, 11))
    W = rng.normal(size=(5, 2, 3))
    b = rng.normal(size=5)
    l_in = lasagne.layers.InputLayer((None, 2, 11), dtype=F64)
    layer = lasagne.layers.Conv1DLayer(l_in, 5, 3, stride=stride, pad=pad,
                                       W=W, b=b)
    p = {"same": 1, "full": 2}.get(pad, pad)
    expected = np.maximum(np_conv1d(x, W, stride, p) + channel(b, 3), 0)
    got = run(lasagne.layers.get_output(layer, x))
    assert layer.output_shape == (None,) + expected.shape[1:]
    assert rel_err(got, expected) < 1e-12


@pytest.mark.parametrize("target,k,stride", [((7, 7), 3, 2), ((8, 6), 4, 2),
                                             ((9, 9), 5, 3)])
def test_deconv_matches_numpy_adjoint(graph, rng, target, k, stride):
    h = (target[0] + 2 * (k // 2) - k) // stride + 1
    w = (target[1] + 2 * (k // 2) - k) // stride + 1
    y = rng.normal(size=(2, 4, h, w))
    W = rng.normal(size=(4, 3, k, k))
    l_in = lasagne.layers.InputLayer((None, 4, h, w), dtype=F64)
    layer = lasagne.nn.Deconv2DLayer(l_in, (None, 3) + target, k,
                                     stride=stride, W=W, nonlinearity=None)
    expected = np_deconv2d(y, W, target, (stride, stride))
    got = run(lasagne.layers.get_output(layer, y))
    assert rel_err(got, expected) < 1e-12
    # Adjointness, checked on NumPy alone: <conv(t), y> == <t, deconv(y)>.
    t = rng.normal(size=(2, 3) + target)
    lhs = np.sum(np_conv2d(t, W, (stride, stride), (k // 2, k // 2)) * y)
    assert abs(lhs - np.sum(t * expected)) < 1e-9 * abs(lhs)


def test_dense_flattens_nchw_in_chw_order(graph, rng):
    x = rng.normal(size=(4, 3, 2, 5))
    W = rng.normal(size=(30, 6))
    l_in = lasagne.layers.InputLayer((None, 3, 2, 5), dtype=F64)
    layer = lasagne.layers.DenseLayer(l_in, 6, W=W, b=np.arange(6.),
                                      nonlinearity=lasagne.nonlinearities.tanh)
    expected = np.tanh(np_dense(x, W) + np.arange(6.))
    assert rel_err(run(lasagne.layers.get_output(layer, x)), expected) < 1e-12


def test_nin_untied_biases(graph, rng):
    x = rng.normal(size=(2, 3, 4, 5))
    W = rng.normal(size=(3, 6))
    b = rng.normal(size=(6, 4, 5))
    l_in = lasagne.layers.InputLayer((None, 3, 4, 5), dtype=F64)
    layer = lasagne.layers.NINLayer(l_in, 6, untie_biases=True, W=W, b=b,
                                    nonlinearity=None)
    expected = np_nin(x, W) + b
    assert rel_err(run(lasagne.layers.get_output(layer, x)), expected) < 1e-12


def test_pool_reshape_nonlinearity_dropout_noise(graph, rng):
    x = rng.normal(size=(3, 4, 5, 2))
    l_in = lasagne.layers.InputLayer((None, 4, 5, 2), dtype=F64)
    pooled = lasagne.layers.GlobalPoolLayer(l_in)
    maxed = lasagne.layers.GlobalPoolLayer(l_in, pool_function=tf.reduce_max)
    reshaped = lasagne.layers.ReshapeLayer(l_in, ([0], -1, [2]))
    nonlin = lasagne.layers.NonlinearityLayer(l_in, lasagne.nn.lrelu)
    drop = lasagne.layers.DropoutLayer(l_in, p=0.5)
    noise = lasagne.layers.GaussianNoiseLayer(l_in, sigma=0.3)
    det = lasagne.layers.get_output([drop, noise], x, deterministic=True)
    outs = lasagne.layers.get_output([pooled, maxed, reshaped, nonlin, drop],
                                     x)
    got = run(outs + det)
    assert reshaped.output_shape == (None, 8, 5)
    assert rel_err(got[0], x.mean(axis=(2, 3))) < 1e-12
    assert rel_err(got[1], x.max(axis=(2, 3))) < 1e-12
    assert rel_err(got[2], x.reshape(3, 8, 5)) == 0
    assert rel_err(got[3], np_lrelu(x)) < 1e-15
    kept = got[4] != 0
    assert 0 < kept.mean() < 1
    np.testing.assert_allclose(got[4][kept], 2 * x[kept], rtol=1e-14)
    np.testing.assert_array_equal(got[5], x)
    np.testing.assert_array_equal(got[6], x)


# ------------------------------------------------------ weight norm + init

def test_weight_norm_stride2_conv_init_and_gradients(graph, rng):
    """stride 2, pad 1 conv on an even input: forward, data init and
    gradients against NumPy (gradients by central differences)."""
    x = rng.normal(size=(3, 2, 6, 6))
    V = rng.normal(scale=0.3, size=(3, 2, 3, 3))
    g0 = rng.uniform(0.5, 2.0, size=3)
    b0 = rng.normal(size=3)
    l_in = lasagne.layers.InputLayer((None, 2, 6, 6), dtype=F64)
    base = lasagne.layers.Conv2DLayer(l_in, 3, 3, stride=2, pad=1, W=V,
                                      nonlinearity=lasagne.nn.lrelu)
    wn = lasagne.layers.weight_norm(base, g=g0, b=b0, init_stdv=0.7)
    assert base.b is None and wn.nonlinearity is lasagne.nn.lrelu

    def forward(V, g, b, x):
        W = np_weight_norm(V, g, (1, 2, 3), 1e-6)
        return np_lrelu(np_conv2d(x, W, (2, 2), (1, 1)) + channel(b, 4))

    out = lasagne.layers.get_output(wn)
    init_out = lasagne.layers.get_output(wn, init=True)
    loss = tf.reduce_sum(tf.square(out))
    grads = tf.gradients(loss, [base.W_param, wn.b, wn.g, l_in.input_var])
    updates = lasagne.layers.get_init_updates(wn)
    feed = {l_in.input_var: x}
    with tf.Session() as sess:
        sess.run(tf.global_variables_initializer())
        got_out, got_grads = sess.run([out, grads], feed)
        got_init, new = sess.run([init_out, [v for _, v in updates]], feed)
        sess.run(lasagne.updates.apply_updates(updates), feed)
        post_b, post_g, post_out = sess.run([wn.b, wn.g, out], feed)

    assert rel_err(got_out, forward(V, g0, b0, x)) < 1e-12
    # Init statistics: of the bias-free pre-activation with the current g.
    pre = np_conv2d(x, np_weight_norm(V, g0, (1, 2, 3), 1e-6), (2, 2), (1, 1))
    m, var = moments(pre)
    inv = 0.7 / np.sqrt(var)
    assert rel_err(got_init, np_lrelu((pre - channel(m, 4)) * channel(inv, 4))
                   ) < 1e-12
    assert rel_err(new[0], -m * inv) < 1e-12
    assert rel_err(new[1], g0 * inv) < 1e-12
    assert rel_err(post_b, -m * inv) < 1e-12 and rel_err(post_g,
                                                         g0 * inv) < 1e-12
    assert rel_err(post_out, got_init) < 1e-12

    def loss_np(V=V, g=g0, b=b0, x=x):
        return np.sum(forward(V, g, b, x) ** 2)

    for got, (name, value) in zip(got_grads, [("V", V), ("b", b0), ("g", g0),
                                              ("x", x)]):
        numeric = np.zeros_like(value)
        h = 1e-6
        for idx in np.ndindex(value.shape):
            plus, minus = value.copy(), value.copy()
            plus[idx] += h
            minus[idx] -= h
            numeric[idx] = (loss_np(**{name: plus})
                            - loss_np(**{name: minus})) / (2 * h)
        assert rel_err(got, numeric) < 1e-6, name


def test_conv1d_weight_norm_openai_variant(graph, rng):
    x = rng.normal(size=(4, 3, 10))
    V = rng.normal(size=(5, 3, 3))
    l_in = lasagne.layers.InputLayer((None, 3, 10), dtype=F64)
    base = lasagne.layers.Conv1DLayer(l_in, 5, 3, pad="same", W=V)
    wn = lasagne.layers.weight_norm(base, train_g=True, epsilon=0.0)
    out = lasagne.layers.get_output(wn, x, init=True)
    got = run(out)
    pre = np_conv1d(x, np_weight_norm(V, np.ones(5), (1, 2), 0.0), 1, 1)
    m, var = moments(pre)
    expected = np.maximum((pre - channel(m, 3)) / channel(np.sqrt(var), 3), 0)
    assert rel_err(got, expected) < 1e-12
    assert wn.g in set(lasagne.layers.get_all_params(wn, trainable=True))


def test_stack_initialized_in_one_pass(graph, rng):
    """conv(stride 2) -> conv(valid) -> NIN -> dense, each weight-normed with
    its own init_stdv, initialized by one init pass; afterwards each layer's
    pre-activation on the init batch has per-channel mean 0 and std
    init_stdv, recomputed in NumPy from the parameter values."""
    x = rng.normal(size=(16, 3, 8, 8))
    stdvs = [1.0, 0.5, 2.0, 0.1]
    l_in = lasagne.layers.InputLayer((None, 3, 8, 8), dtype=F64)
    c1 = lasagne.layers.weight_norm(lasagne.layers.Conv2DLayer(
        l_in, 6, 3, stride=2, pad=1, W=lasagne.init.Normal(0.05),
        nonlinearity=lasagne.nn.lrelu), init_stdv=stdvs[0])
    c2 = lasagne.layers.weight_norm(lasagne.layers.Conv2DLayer(
        c1, 5, 3, pad="valid", W=lasagne.init.Normal(0.05),
        nonlinearity=lasagne.nn.lrelu), init_stdv=stdvs[1])
    n3 = lasagne.layers.weight_norm(lasagne.layers.NINLayer(
        c2, 4, W=lasagne.init.Normal(0.05)), init_stdv=stdvs[2])
    d4 = lasagne.layers.weight_norm(lasagne.layers.DenseLayer(
        n3, 3, W=lasagne.init.Normal(0.05), nonlinearity=None),
        init_stdv=stdvs[3], g=lasagne.init.Constant(3.0))
    init_out = lasagne.layers.get_output(d4, init=True)
    updates = lasagne.layers.get_init_updates(d4)
    assert len(updates) == 8
    out = lasagne.layers.get_output(d4)
    feed = {l_in.input_var: x}
    with tf.Session() as sess:
        sess.run(tf.global_variables_initializer())
        sess.run(lasagne.updates.apply_updates(updates), feed)
        values = lasagne.layers.get_all_param_values(d4)
        got_init, got_out = sess.run([init_out, out], feed)
    # NumPy forward from the parameter values (order W, b, g per block).
    ops = [lambda h, W: np_conv2d(h, W, (2, 2), (1, 1)),
           lambda h, W: np_conv2d(h, W),
           np_nin, np_dense]
    axes = [(1, 2, 3), (1, 2, 3), (0,), (0,)]
    nonlins = [np_lrelu, np_lrelu, lambda t: np.maximum(t, 0), lambda t: t]
    h = x
    for i in range(4):
        V, b, g = values[3 * i:3 * i + 3]
        pre = ops[i](h, np_weight_norm(V, g, axes[i], 1e-6)) + channel(
            b, 4 if i < 3 else 2)
        m, var = moments(pre)
        np.testing.assert_allclose(m, 0, atol=1e-12 * stdvs[i])
        np.testing.assert_allclose(np.sqrt(var), stdvs[i], rtol=1e-10)
        h = nonlins[i](pre)
    assert rel_err(got_out, h) < 1e-10
    assert rel_err(got_out, got_init) < 1e-10


def test_init_is_exact_for_any_current_g(graph, rng):
    """Running the init twice (second time from the already-changed g, b)
    still gives mean 0 / std init_stdv: the statistics use the current g."""
    x = rng.normal(size=(10, 4))
    l_in = lasagne.layers.InputLayer((None, 4), dtype=F64)
    wn = lasagne.layers.weight_norm(lasagne.layers.DenseLayer(
        l_in, 3, W=rng.normal(size=(4, 3)), nonlinearity=None),
        g=rng.uniform(0.1, 5, size=3), b=rng.normal(size=3), init_stdv=0.3)
    lasagne.layers.get_output(wn, init=True)
    apply_op = lasagne.updates.apply_updates(
        lasagne.layers.get_init_updates(wn))
    out = lasagne.layers.get_output(wn)
    with tf.Session() as sess:
        sess.run(tf.global_variables_initializer())
        for _ in range(2):
            sess.run(apply_op, {l_in.input_var: x})
            got = sess.run(out, {l_in.input_var: x})
            np.testing.assert_allclose(got.mean(0), 0, atol=1e-12)
            np.testing.assert_allclose(got.std(0), 0.3, rtol=1e-10)


def test_mean_only_bn_matches_numpy(graph, rng):
    x = rng.normal(size=(6, 3, 4, 4))
    l_in = lasagne.layers.InputLayer((None, 3, 4, 4), dtype=F64)
    base = lasagne.layers.Conv2DLayer(l_in, 2, 3, pad=1)
    bn = lasagne.nn.mean_only_bn(base, b=rng.normal(size=2),
                                 g=rng.uniform(1, 2, size=2))
    train_out = lasagne.layers.get_output(bn, x)
    bn_updates = lasagne.layers.get_bn_updates(bn)
    test_out = lasagne.layers.get_output(bn, x, deterministic=True)
    with tf.Session() as sess:
        sess.run(tf.global_variables_initializer())
        V, b, g, avg = lasagne.layers.get_all_param_values(bn)
        got_train, got_test = sess.run([train_out, test_out])
        sess.run(lasagne.updates.apply_updates(bn_updates))
        new_avg = sess.run(bn.avg_batch_mean)
    pre = np_conv2d(x, np_weight_norm(V, g, (1, 2, 3), 0.0), (1, 1), (1, 1))
    m, _ = moments(pre)
    np.testing.assert_array_equal(avg, 0)
    assert rel_err(got_train, np.maximum(pre - channel(m, 4) + channel(b, 4),
                                         0)) < 1e-12
    assert rel_err(got_test, np.maximum(pre + channel(b, 4), 0)) < 1e-12
    assert rel_err(new_avg, 0.1 * m) < 1e-12
