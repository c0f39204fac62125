"""Data-dependent init: statistics layer by layer against NumPy, exactness,
re-running, v untouched, init-mode output equal to the trained forward."""
import numpy as np
import pytest
import tensorflow.compat.v1 as tf

import tf1_wn
import reference as ref

# Every test runs on native kernels and on composed ops (conftest).
pytestmark = pytest.mark.usefixtures("implementation")

DDI_EPS = 1e-8  # the documented variance epsilon (tf1_wn.DATA_INIT_EPS)


def _stack(x, init):
    """conv -> strided conv -> transposed conv -> dense, mixed init_scale.

    Returns the pre-activations of every layer (activation applied between
    layers, outside the layer, so the statistics can be read)."""
    pre = []
    h = tf1_wn.conv2d(x, 6, 3, init=init, init_scale=1.0, scope="conv")
    pre.append(h)
    h = tf1_wn.conv2d(tf.nn.relu(h), 5, 3, strides=2, init=init,
                      init_scale=0.5, scope="strided")
    pre.append(h)
    h = tf1_wn.conv2d_transpose(tf.nn.elu(h), 4, 3, strides=2, init=init,
                                init_scale=2.0, scope="transposed")
    pre.append(h)
    h = tf.reshape(tf.nn.relu(h), [-1, 8 * 8 * 4])
    h = tf1_wn.dense(h, 7, init=init, init_scale=0.1, scope="dense")
    pre.append(h)
    return pre


SCALES = [1.0, 0.5, 2.0, 0.1]
LAYERS = ["conv", "strided", "transposed", "dense"]


def _numpy_stack_init(x, vs):
    """Independent NumPy data init of the same stack: returns g, bias."""
    def relu(a):
        return np.maximum(a, 0)

    def elu(a):
        return np.where(a > 0, a, np.expm1(np.minimum(a, 0)))
    ops = [
        lambda h, w: ref.conv(h, w, (1, 1), "SAME"),
        lambda h, w: ref.conv(relu(h), w, (2, 2), "SAME"),
        lambda h, w: ref.conv2d_transpose(elu(h), w, (2, 2), "SAME"),
        lambda h, w: ref.dense(relu(h).reshape(len(h), -1), w),
    ]
    axes = [[0, 1, 2], [0, 1, 2], [0, 1, 3], [0]]
    h, result = x, []
    for op, v, reduce_axes, scale in zip(ops, vs, axes, SCALES):
        unit = ref.weight_norm(v, np.ones(np.prod(v.shape) // np.prod(
            [v.shape[a] for a in reduce_axes])), reduce_axes)
        t = op(h, unit)
        mean, var = ref.moments(t)
        g = scale / np.sqrt(var + DDI_EPS)
        bias = -mean * g
        h = t * g + bias
        result.append((g, bias))
    return result


@pytest.mark.parametrize("dtype", [tf.float64, tf.float32])
def test_stack_init_matches_numpy_layer_by_layer(graph, rng, dtype):
    x_value = rng.normal(1.0, 2.0, size=(16, 8, 8, 3))
    x = tf.placeholder(dtype, [None, 8, 8, 3])
    pre_init = _stack(x, init=True)
    pre = _stack(x, init=False)
    init = tf1_wn.init_op()
    with tf.Session() as sess:
        sess.run(tf.global_variables_initializer())
        v_values = sess.run([tf.global_variables(f"{n}/v")[0]
                             for n in LAYERS])
        init_outputs = sess.run(pre_init, {x: x_value})
        sess.run(init, {x: x_value})
        outputs = sess.run(pre, {x: x_value})
        gb = sess.run([(tf.global_variables(f"{n}/g")[0],
                        tf.global_variables(f"{n}/bias")[0])
                       for n in LAYERS])
        v_after = sess.run([tf.global_variables(f"{n}/v")[0]
                            for n in LAYERS])

    expected = _numpy_stack_init(x_value, [np.float64(v) for v in v_values])
    tol = 1e-9 if dtype == tf.float64 else 2e-4
    for name, scale, out, out_init, (g, b), (g_np, b_np) in zip(
            LAYERS, SCALES, outputs, init_outputs, gb, expected):
        mean, var = ref.moments(np.float64(out))
        np.testing.assert_allclose(mean, 0, atol=tol * 10 * scale,
                                   err_msg=name)
        # DATA_INIT_EPS shifts the std by 0.5 * eps / var relative
        np.testing.assert_allclose(np.sqrt(var), scale, rtol=max(tol, 1e-6),
                                   err_msg=name)
        np.testing.assert_allclose(g, g_np, rtol=tol, err_msg=name)
        np.testing.assert_allclose(b, b_np, rtol=tol, atol=tol * scale,
                                   err_msg=name)
        np.testing.assert_allclose(out, out_init, rtol=tol,
                                   atol=tol * 10 * scale, err_msg=name)
    for before, after in zip(v_values, v_after):
        np.testing.assert_array_equal(before, after)


def test_rerunning_init_after_scrambling_gives_same_values(graph, rng):
    x_value = rng.normal(size=(32, 6))
    x = tf.placeholder(tf.float64, [None, 6])
    tf1_wn.dense(tf.nn.tanh(tf1_wn.dense(x, 5, init=True, scope="a")), 4,
                 init=True, init_scale=0.3, scope="b")
    init = tf1_wn.init_op()
    gb = [v for v in tf.global_variables() if v.op.name[-1] in "gs"]
    with tf.Session() as sess:
        sess.run(tf.global_variables_initializer())
        sess.run(init, {x: x_value})
        first = sess.run(gb)
        for variable in gb:
            variable.load(rng.normal(5.0, 3.0, variable.shape), sess)
        sess.run(init, {x: x_value})
        second = sess.run(gb)
    for a, b in zip(first, second):
        np.testing.assert_allclose(a, b, rtol=1e-12, atol=1e-14)


def test_init_op_scope_filter_and_empty_error(graph, rng):
    x = tf.placeholder(tf.float32, [None, 4])
    with tf.name_scope("tower_0"):
        tf1_wn.dense(x, 3, init=True, scope="shared")
    with tf.name_scope("tower_1"):
        tf1_wn.dense(x, 3, init=True, scope="other")
    assert len(tf.get_collection(tf1_wn.INIT_OPS)) == 2
    only_first = tf1_wn.init_op(scope="tower_0")
    assert len(only_first.control_inputs) == 1
    with pytest.raises(ValueError, match="tower_9"):
        tf1_wn.init_op(scope="tower_9")


def test_init_op_without_init_layers_raises(graph):
    with pytest.raises(ValueError, match="init=True"):
        tf1_wn.init_op()


def test_constant_channel_and_zero_v_stay_finite(graph, rng):
    """A channel constant over the init batch and an all-zero v column give
    finite g, bias, outputs and gradients."""
    x_value = rng.normal(size=(10, 5))
    x_value[:, :] = x_value[:, :1]  # every row constant along features
    x_value[:, 0] = 3.0             # ... and column 0 constant over batch
    x = tf.placeholder(tf.float32, [None, 5])
    v_value = rng.normal(size=(5, 4)).astype(np.float32)
    v_value[:, 1] = 0.0
    v_value[:, 2] = [1, 0, 0, 0, 0]  # only sees the constant column
    out_init = tf1_wn.dense(x, 4, init=True, scope="d")
    out = tf1_wn.dense(x, 4, scope="d")
    variables = tf.global_variables()
    grads = tf.gradients(tf.reduce_sum(out ** 2), variables + [x])
    with tf.Session() as sess:
        sess.run(tf.global_variables_initializer())
        variables[0].load(v_value, sess)
        sess.run(tf1_wn.init_op(), {x: x_value})
        values = sess.run([out_init, out] + variables + grads, {x: x_value})
    for value in values:
        assert np.all(np.isfinite(value))
    np.testing.assert_allclose(values[0], values[1], atol=1e-3)


def test_layer_object_init_and_variables(graph, rng):
    x_value = rng.normal(size=(20, 4, 4, 3))
    x = tf.placeholder(tf.float32, [None, 4, 4, 3])
    layer = tf1_wn.WeightNormConv2D(5, 3, init_scale=0.5, name="block")
    with pytest.raises(RuntimeError, match="call the layer"):
        layer.v
    y_init = layer(x, init=True)
    y = layer(x)
    assert [v.op.name for v in layer.variables] == [
        "block/v", "block/g", "block/bias"]
    assert layer.v.shape.as_list() == [3, 3, 3, 5]
    assert len(tf.global_variables()) == 3
    with tf.Session() as sess:
        sess.run(tf.global_variables_initializer())
        sess.run(tf1_wn.init_op(), {x: x_value})
        a, b = sess.run([y_init, y], {x: x_value})
    np.testing.assert_allclose(a, b, rtol=1e-4, atol=1e-5)
    np.testing.assert_allclose(b.std(axis=(0, 1, 2)), 0.5, rtol=1e-4)
