"""Weight-standardized layers against float64 NumPy references.

Every reference here is written from the formulas (docs/design.md) and
TF's conv conventions, in NumPy, by explicit loops over kernel offsets; no
TensorFlow op computes an expected value.  Gradients are central finite
differences of the NumPy reference (the loss is ``sum(R * y)``).
Each test runs twice: native kernels and composed TensorFlow ops.
"""
import math

import numpy as np
import pytest
import tensorflow.compat.v1 as tf

import tf1_wn
from tf1_wn.layers import recompute as recompute_lib
from reference import WS_REFERENCES as REFERENCES
from reference import ws_bit, ws_explicit, ws_timm


# Every test runs on both paths (see conftest.implementation).
pytestmark = pytest.mark.usefixtures("implementation")

# --------------------------------------------------------------------------
# NumPy convolutions (channels last), by loops over kernel offsets.


def _same_or_valid(size, k, stride, dilation, padding):
    """(out_size, pad_before, pad_after) of one spatial dim, TF rules."""
    eff = (k - 1) * dilation + 1
    if padding == "SAME":
        out = math.ceil(size / stride)
        total = max((out - 1) * stride + eff - size, 0)
        return out, total // 2, total - total // 2
    return (size - eff) // stride + 1, 0, 0


def np_conv(x, w, strides, padding, dilations):
    """N-D cross-correlation, x [N, *S, Cin], w [*K, Cin, Cout]."""
    n_sp = x.ndim - 2
    ks = w.shape[:n_sp]
    geo = [_same_or_valid(x.shape[1 + d], ks[d], strides[d], dilations[d],
                          padding) for d in range(n_sp)]
    xp = np.pad(x, [(0, 0)] + [(b, a) for _, b, a in geo] + [(0, 0)])
    out = np.zeros((x.shape[0],) + tuple(o for o, _, _ in geo)
                   + (w.shape[-1],))
    for offset in np.ndindex(*ks):
        index = [slice(None)]
        for d in range(n_sp):
            start = offset[d] * dilations[d]
            index.append(slice(start, start + (geo[d][0] - 1) * strides[d] + 1,
                               strides[d]))
        patch = xp[tuple(index)]
        out += np.tensordot(patch, w[offset], axes=([-1], [0]))
    return out


def np_conv_transpose(x, w, strides, padding):
    """Transposed 2-D conv, x [N, H, W, Cin], w [kh, kw, Cout, Cin].

    Scatter form: input position i and kernel offset k add to output
    position ``i * s + k - pad_before``, where pad_before is the padding the
    forward conv from the output size back to H would use.
    """
    n, h, wd, _ = x.shape
    kh, kw = w.shape[:2]
    sizes, befores = [], []
    for size, k, s in ((h, kh, strides[0]), (wd, kw, strides[1])):
        full = (size - 1) * s + k
        out = size * s if padding == "SAME" else full
        total = max((size - 1) * s + k - out, 0)
        sizes.append(out)
        befores.append(total // 2)
    buf = np.zeros((n, max(h * strides[0] + kh, befores[0] + sizes[0]),
                    max(wd * strides[1] + kw, befores[1] + sizes[1]),
                    w.shape[2]))
    for i in range(h):
        for j in range(wd):
            for a in range(kh):
                for b in range(kw):
                    buf[:, i * strides[0] + a, j * strides[1] + b] += \
                        x[:, i, j] @ w[a, b].T
    return buf[:, befores[0]:befores[0] + sizes[0],
               befores[1]:befores[1] + sizes[1]]


def np_depthwise(x, w, strides, padding, dilations):
    """Depthwise conv, w [kh, kw, Cin, M]; output channel c * M + m."""
    kh, kw, cin, mult = w.shape
    geo = [_same_or_valid(x.shape[1 + d], w.shape[d], strides[d],
                          dilations[d], padding) for d in range(2)]
    xp = np.pad(x, [(0, 0)] + [(b, a) for _, b, a in geo] + [(0, 0)])
    out = np.zeros((x.shape[0], geo[0][0], geo[1][0], cin, mult))
    for a in range(kh):
        for b in range(kw):
            r0, c0 = a * dilations[0], b * dilations[1]
            patch = xp[:, r0:r0 + (geo[0][0] - 1) * strides[0] + 1:strides[0],
                       c0:c0 + (geo[1][0] - 1) * strides[1] + 1:strides[1]]
            out += patch[..., :, None] * w[a, b][None, None, None]
    return out.reshape(out.shape[:3] + (cin * mult,))


# --------------------------------------------------------------------------
# Layer kinds: (TF builder, NumPy forward, input shape, kernel shape,
# reduce axes, out-channel shape, channels_first).

def _kinds():
    return {
        "conv1d": dict(
            build=lambda x, **kw: tf1_wn.ws_conv1d(x, 4, 3, strides=2, **kw),
            np=lambda x, w: np_conv(x, w, (2,), "SAME", (1,)),
            x=(2, 7, 3), k=(3, 3, 4), axes=(0, 1)),
        "conv1d_ncw_dilated": dict(
            build=lambda x, **kw: tf1_wn.ws_conv1d(
                x, 4, 3, dilation_rate=2, padding="VALID",
                data_format="NCW", **kw),
            np=lambda x, w: np_conv(x, w, (1,), "VALID", (2,)),
            x=(2, 9, 3), k=(3, 3, 4), axes=(0, 1), first=True),
        "conv2d": dict(
            build=lambda x, **kw: tf1_wn.ws_conv2d(x, 5, (3, 2), **kw),
            np=lambda x, w: np_conv(x, w, (1, 1), "SAME", (1, 1)),
            x=(2, 5, 6, 3), k=(3, 2, 3, 5), axes=(0, 1, 2)),
        "conv2d_nchw": dict(
            build=lambda x, **kw: tf1_wn.ws_conv2d(
                x, 4, 3, strides=2, padding="VALID", data_format="NCHW",
                **kw),
            np=lambda x, w: np_conv(x, w, (2, 2), "VALID", (1, 1)),
            x=(2, 7, 6, 3), k=(3, 3, 3, 4), axes=(0, 1, 2), first=True),
        "conv3d": dict(
            build=lambda x, **kw: tf1_wn.ws_conv3d(x, 3, 2, **kw),
            np=lambda x, w: np_conv(x, w, (1, 1, 1), "SAME", (1, 1, 1)),
            x=(2, 3, 4, 3, 2), k=(2, 2, 2, 2, 3), axes=(0, 1, 2, 3)),
        "conv2d_transpose": dict(
            build=lambda x, **kw: tf1_wn.ws_conv2d_transpose(
                x, 4, 3, strides=2, **kw),
            np=lambda x, w: np_conv_transpose(x, w, (2, 2), "SAME"),
            x=(2, 3, 4, 3), k=(3, 3, 4, 3), axes=(0, 1, 3)),
        "conv2d_transpose_nchw_valid": dict(
            build=lambda x, **kw: tf1_wn.ws_conv2d_transpose(
                x, 2, (2, 3), strides=(2, 1), padding="VALID",
                data_format="NCHW", **kw),
            np=lambda x, w: np_conv_transpose(x, w, (2, 1), "VALID"),
            x=(2, 3, 3, 3), k=(2, 3, 2, 3), axes=(0, 1, 3), first=True),
        "depthwise": dict(
            build=lambda x, **kw: tf1_wn.ws_depthwise_conv2d(
                x, 3, depth_multiplier=2, **kw),
            np=lambda x, w: np_depthwise(x, w, (1, 1), "SAME", (1, 1)),
            x=(2, 5, 5, 3), k=(3, 3, 3, 2), axes=(0, 1)),
    }


KINDS = _kinds()


def _channel_shape(kernel_shape, axes):
    return [1 if a in axes else s for a, s in enumerate(kernel_shape)]


def np_layer(kind, standardize, x, w, gain, bias):
    """The whole layer in NumPy: conv(x, gain * ws(w)) + bias."""
    spec = KINDS[kind]
    w_hat = standardize(w, spec["axes"]) * gain.reshape(
        _channel_shape(w.shape, spec["axes"]))
    if spec.get("first"):
        x = np.moveaxis(x, 1, -1)
    y = spec["np"](x, w_hat) + bias
    if spec.get("first"):
        y = np.moveaxis(y, -1, 1)
    return y


def numeric_gradient(f, value, indices=None, h=1e-5):
    """Central differences of f() w.r.t. `value` (perturbed in place) at
    the flat `indices` (default all); returns (indices, gradient values)."""
    flat = value.reshape(-1)
    if indices is None:
        indices = np.arange(flat.size)
    grad = np.zeros(len(indices))
    for j, i in enumerate(indices):
        old = flat[i]
        flat[i] = old + h
        up = f()
        flat[i] = old - h
        down = f()
        flat[i] = old
        grad[j] = (up - down) / (2 * h)
    return indices, grad


def _random_case(kind, rng):
    spec = KINDS[kind]
    x_shape = spec["x"]
    if spec.get("first"):
        x_shape = (x_shape[0], x_shape[-1]) + tuple(x_shape[1:-1])
    x = rng.normal(size=x_shape)
    k_shape = spec["k"]
    # A per-channel offset makes the mean subtraction matter.
    w = rng.normal(size=k_shape) * 0.3 + rng.normal(
        size=_channel_shape(k_shape, spec["axes"]))
    n_out = int(np.prod(_channel_shape(k_shape, spec["axes"])))
    gain = rng.uniform(0.5, 1.5, size=n_out)
    bias = rng.normal(size=n_out)
    return x, w, gain, bias


def _run_tf(kind, x, w, gain, bias, r, **options):
    spec = KINDS[kind]
    x_t = tf.constant(x)
    y = spec["build"](
        x_t, gain=True, kernel_initializer=tf.constant_initializer(w),
        gain_initializer=tf.constant_initializer(gain),
        bias_initializer=tf.constant_initializer(bias), scope="layer",
        **options)
    variables = {v.op.name.split("/")[-1]: v for v in tf.global_variables()}
    loss = tf.reduce_sum(y * tf.constant(r))
    grads = tf.gradients(loss, [variables["kernel"], variables["gain"],
                                variables["bias"], x_t])
    with tf.Session() as sess:
        sess.run(tf.global_variables_initializer())
        return sess.run([y, grads])


CASES = [(kind, variant) for kind in KINDS for variant in REFERENCES]


@pytest.mark.parametrize("recompute", [False, True],
                         ids=["kept_kernel", "recomputed_kernel"])
@pytest.mark.parametrize("kind,variant", CASES)
def test_forward_and_gradients_match_numpy(graph, rng, kind, variant,
                                           recompute):
    x, w, gain, bias = _random_case(kind, rng)
    standardize = REFERENCES[variant]
    expected = np_layer(kind, standardize, x, w, gain, bias)
    r = rng.normal(size=expected.shape)
    with tf1_wn.recompute_kernels(recompute):
        y, grads = _run_tf(kind, x, w, gain, bias, r, variant=variant)
    assert len(recompute_lib._REBUILDERS.get(graph, {})) == recompute
    assert y.dtype == np.float64
    np.testing.assert_allclose(y, expected, rtol=1e-10, atol=1e-10)

    def loss():
        return float(np.sum(r * np_layer(kind, standardize, x, w, gain,
                                         bias)))

    for name, value, grad in zip(("kernel", "gain", "bias", "inputs"),
                                 (w, gain, bias, x), grads):
        assert grad.shape == value.shape, name
        # The loss is linear in the inputs: a random subset of them is
        # enough, and keeps the test fast.
        subset = rng.choice(x.size, 24, replace=False) if name == "inputs" \
            else None
        indices, expected_grad = numeric_gradient(loss, value, subset)
        scale = np.abs(expected_grad).max()
        np.testing.assert_allclose(grad.reshape(-1)[indices], expected_grad,
                                   rtol=1e-6, atol=1e-7 * scale,
                                   err_msg=name)


@pytest.mark.parametrize("eps,placement,unbiased", [
    (1e-3, "std", False), (1e-3, "var", True), (0.5, "var", False),
    (0.5, "std", True)])
def test_explicit_eps_placement_unbiased(graph, rng, eps, placement,
                                         unbiased):
    # Large eps makes the placement and the divisor visible in the output.
    kind = "conv2d"
    x, w, gain, bias = _random_case(kind, rng)
    w *= 0.1
    standardize = ws_explicit(eps, placement, unbiased)
    expected = np_layer(kind, standardize, x, w, gain, bias)
    r = rng.normal(size=expected.shape)
    y, grads = _run_tf(kind, x, w, gain, bias, r, variant=None, eps=eps,
                       eps_placement=placement, unbiased=unbiased)
    np.testing.assert_allclose(y, expected, rtol=1e-10, atol=1e-10)

    def loss():
        return float(np.sum(r * np_layer(kind, standardize, x, w, gain,
                                         bias)))

    _, expected_grad = numeric_gradient(loss, w)
    np.testing.assert_allclose(grads[0].reshape(-1), expected_grad, rtol=1e-6,
                               atol=1e-7 * np.abs(expected_grad).max())


def test_override_replaces_only_the_named_field(graph, rng):
    # 'bit' with eps=1e-2: biased, inside the sqrt, but eps 1e-2.
    kind = "conv1d"
    x, w, gain, bias = _random_case(kind, rng)
    w *= 0.1
    standardize = ws_explicit(1e-2, "var", False)
    expected = np_layer(kind, standardize, x, w, gain, bias)
    y, _ = _run_tf(kind, x, w, gain, bias, np.ones_like(expected),
                   variant="bit", eps=1e-2)
    np.testing.assert_allclose(y, expected, rtol=1e-10, atol=1e-10)


@pytest.mark.parametrize("variant", list(REFERENCES))
def test_constant_channel_is_finite(graph, rng, variant):
    """A constant output channel: forward 0, no NaN/inf in any gradient."""
    w = rng.normal(size=(3, 3, 2, 4))
    w[..., 1] = 0.7
    w[..., 3] = 0.0
    x = tf.constant(rng.normal(size=(2, 5, 5, 2)))
    y = tf1_wn.ws_conv2d(x, 4, 3, variant=variant, gain=True,
                         kernel_initializer=tf.constant_initializer(w),
                         scope="c")
    kernel, gain, bias = tf.global_variables()
    loss = tf.reduce_sum(y * tf.constant(rng.normal(size=(2, 5, 5, 4))))
    grads = tf.gradients(loss, [kernel, gain, bias, x])
    with tf.Session() as sess:
        sess.run(tf.global_variables_initializer())
        out, grad_values = sess.run([y, grads])
    for value in [out] + grad_values:
        assert np.all(np.isfinite(value))
    # The constant channels standardize to an all-zero kernel: y = bias = 0.
    np.testing.assert_allclose(out[..., 1], 0.0, atol=1e-9)
    np.testing.assert_array_equal(out[..., 3], 0.0)
    # Their gain gradient is 0; their kernel gradient is the mean-removed
    # upstream gradient divided by eps (or std + eps).
    assert abs(grad_values[1][1]) < 1e-9 and grad_values[1][3] == 0.0


def _quantize(value, dtype):
    """Rounds float64 values to `dtype` (round to nearest even), in NumPy."""
    if dtype == tf.float16:
        return value.astype(np.float16).astype(np.float64)
    bits = value.astype(np.float32).view(np.uint32)
    if dtype == tf.bfloat16:
        bits = (bits + 0x7FFF + ((bits >> 16) & 1)) & 0xFFFF0000
    return bits.view(np.float32).astype(np.float64)


@pytest.mark.parametrize("dtype", [tf.float16, tf.bfloat16, tf.float32])
def test_low_precision_matches_float64_reference(graph, rng, dtype):
    kind = "conv2d"
    x, w, gain, bias = _random_case(kind, rng)
    # A channel whose mean dwarfs its spread (steps of 0.25 are exact in
    # every dtype here): float16 sums would lose it, float32 ones keep it.
    w[..., 0] = 40.0 + 0.25 * rng.integers(-3, 4, size=w.shape[:-1])
    x, w, gain, bias = (_quantize(v, dtype) for v in (x, w, gain, bias))
    expected = np_layer(kind, ws_bit, x, w, gain, bias)
    y = KINDS[kind]["build"](
        tf.cast(tf.constant(x), dtype), gain=True, variant="bit",
        kernel_initializer=tf.constant_initializer(w),
        gain_initializer=tf.constant_initializer(gain),
        bias_initializer=tf.constant_initializer(bias), scope="layer")
    assert y.dtype == dtype
    kernel = tf.global_variables()[0]
    assert kernel.dtype.base_dtype == dtype
    grad = tf.gradients(tf.reduce_sum(tf.cast(y, tf.float32)), kernel)[0]
    assert grad.dtype == dtype
    with tf.Session() as sess:
        sess.run(tf.global_variables_initializer())
        out, grad_value = sess.run([tf.cast(y, tf.float32),
                                    tf.cast(grad, tf.float32)])
    tol = {tf.float16: 5e-3, tf.bfloat16: 3e-2, tf.float32: 1e-5}[dtype]
    scale = np.abs(expected).max()
    np.testing.assert_allclose(out, expected, atol=tol * scale)
    assert np.all(np.isfinite(grad_value))


def test_standardize_weight_function_matches_numpy(graph, rng):
    """The math function alone, on a depthwise-shaped kernel with gain."""
    from tf1_wn.kernel_kinds import resolve_ws_variant as resolve_variant
    from tf1_wn.standardization import standardize_weight
    w = rng.normal(size=(3, 3, 4, 2)) + rng.normal(size=(1, 1, 4, 2))
    gain = rng.uniform(0.5, 2.0, size=8)
    expected = ws_timm(w, (0, 1)) * gain.reshape(1, 1, 4, 2)
    config = resolve_variant("paper", eps=1e-6, eps_placement="var",
                             unbiased=False)
    out = standardize_weight(tf.constant(w), [0, 1], tf.constant(gain),
                             config)
    with tf.Session() as sess:
        np.testing.assert_allclose(sess.run(out), expected, rtol=1e-12,
                                   atol=1e-12)


@pytest.mark.parametrize("axes", [[], [0, 1, 2, 3], [0, 4], [0.5]])
def test_standardize_weight_rejects_bad_axes(graph, axes):
    from tf1_wn.standardization import standardize_weight
    with pytest.raises(ValueError, match="`reduce_axes` must be distinct"):
        standardize_weight(tf.zeros([3, 3, 2, 2]), axes)


@pytest.mark.parametrize("variant", list(REFERENCES))
def test_numpy_helper_for_checkpoint_tools(rng, variant):
    from tf1_wn.checkpoint.kernel_math import fold_weight_standardization
    w = rng.normal(size=(3, 3, 5, 4)) * 0.2 + rng.normal(size=(1, 1, 5, 1))
    gain = rng.uniform(0.5, 2.0, size=5)
    # Transposed layout: output channel axis 2.
    expected = REFERENCES[variant](w, (0, 1, 3)) * gain.reshape(1, 1, 5, 1)
    out = fold_weight_standardization(w.astype(np.float32),
                                      "conv2d_transpose", variant, gain)
    assert out.dtype == np.float32
    np.testing.assert_allclose(out, expected, rtol=1e-5, atol=1e-5)
