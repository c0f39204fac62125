"""Low-precision inputs, zero directions and the eps default."""
import numpy as np
import pytest
import tensorflow.compat.v1 as tf

import tf1_wn
import reference as ref
from helpers import VARIABLE_KINDS, variables_of

# Every test runs on native kernels and on composed ops (conftest).
pytestmark = pytest.mark.usefixtures("implementation")


@pytest.mark.parametrize("variable_kind", VARIABLE_KINDS)
@pytest.mark.parametrize("dtype, tol", [(tf.float16, 2e-2),
                                        (tf.bfloat16, 6e-2)])
def test_low_precision_norm_does_not_overflow(graph, rng, dtype, tol,
                                              variable_kind):
    """sum(v**2) = 9 * 16 * 400**2 ~ 2.3e7 overflows float16 (max 65504):
    the norm must be taken in float32, also for TF1's reference variables
    (dtype float16_ref)."""
    x_value = rng.normal(size=(2, 6, 6, 16))
    v_value = rng.normal(400.0, 30.0, size=(3, 3, 16, 4))
    g_value = rng.uniform(0.5, 2.0, size=4)
    x = tf.placeholder(dtype, x_value.shape)
    with variables_of(variable_kind):
        y = tf1_wn.conv2d(x, 4, 3, scope="c", init=False)
        y_init = tf1_wn.conv2d(x, 4, 3, scope="c", init=True)
    assert y.dtype == dtype and y_init.dtype == dtype
    v, g, b = tf.global_variables()
    assert v.dtype.base_dtype == dtype
    grads = tf.gradients(tf.reduce_sum(tf.cast(y, tf.float32)), [v, g, x])
    with tf.Session() as sess:
        sess.run(tf.global_variables_initializer())
        v.load(v_value, sess)
        g.load(g_value, sess)
        got, got_grads = sess.run([y, grads], {x: x_value})
        sess.run(tf1_wn.init_op(), {x: x_value})
        g_init = sess.run(g)
    x_rounded = np.float64(np.asarray(x_value, dtype.as_numpy_dtype))
    v_rounded = np.float64(np.asarray(v_value, dtype.as_numpy_dtype))
    expected = ref.conv(x_rounded, ref.weight_norm(v_rounded, g_value,
                                                   [0, 1, 2]), (1, 1), "SAME")
    got = np.float64(got)
    assert np.all(np.isfinite(got))
    np.testing.assert_allclose(
        got, expected, atol=tol * np.abs(expected).max())
    for grad in got_grads:
        assert np.all(np.isfinite(np.float64(grad)))
    t = ref.conv(x_rounded, ref.weight_norm(v_rounded, np.ones(4), [0, 1, 2]),
                 (1, 1), "SAME")
    np.testing.assert_allclose(np.float64(g_init), 1 / t.std(axis=(0, 1, 2)),
                               rtol=tol)


@pytest.mark.parametrize("variable_kind", VARIABLE_KINDS)
@pytest.mark.parametrize("dtype", [tf.float16, tf.float32, tf.float64])
def test_zero_direction_column_gives_no_nan(graph, rng, dtype, variable_kind):
    x = tf.placeholder(dtype, [None, 4])
    with variables_of(variable_kind):
        y = tf1_wn.dense(x, 3, scope="d")
    v, g, b = tf.global_variables()
    grads = tf.gradients(tf.reduce_sum(y * y), [v, g, b, x])
    v_value = rng.normal(size=(4, 3))
    v_value[:, 1] = 0.0
    with tf.Session() as sess:
        sess.run(tf.global_variables_initializer())
        v.load(v_value, sess)
        b.load(rng.normal(size=3), sess)
        values = sess.run([y] + grads, {x: rng.normal(size=(5, 4))})
    # float16 variables: the zero column's v gradient, g / sqrt(eps) * dL/dw,
    # exceeds float16's range (documented); everything else stays finite.
    checked = values if dtype != tf.float16 else values[:1] + values[2:]
    for value in checked:
        assert np.all(np.isfinite(np.float64(value)))
    np.testing.assert_allclose(np.float64(values[0])[:, 1],
                               np.float64(values[0])[0, 1])


def test_default_eps_within_1e6_of_eps_free_formula(graph, rng):
    """Ordinary weights: dense 8->4 with the usual std-0.05 init, where
    sum(v**2) ~ 0.02 per column, the smallest realistic norm."""
    x_value = rng.normal(size=(16, 8))
    v_value = rng.normal(0, 0.05, size=(8, 4))
    g_value = rng.uniform(0.5, 2, size=4)
    x = tf.placeholder(tf.float64, x_value.shape)
    y = tf1_wn.dense(x, 4, use_bias=False, scope="d")
    v, g = tf.global_variables()
    with tf.Session() as sess:
        v.load(v_value, sess)
        g.load(g_value, sess)
        got = sess.run(y, {x: x_value})
    exact = x_value @ ref.weight_norm(v_value, g_value, [0], eps=0.0)
    assert tf1_wn.DEFAULT_EPS == 1e-12
    np.testing.assert_allclose(got, exact, rtol=1e-6)
    assert np.max(np.abs(got - exact) / np.abs(exact)) > 0  # eps is applied
