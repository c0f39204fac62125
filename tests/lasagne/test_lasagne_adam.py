"""The two Adams of the Lasagne world against float64 NumPy transcriptions:
improved-gan's / openai/weightnorm's ``nn.adam_updates`` (eps inside the
square root, after the bias correction) and Lasagne's ``updates.adam``
(eps outside, the correction folded into the step size)."""
import numpy as np
import pytest
import tensorflow.compat.v1 as tf

from tf1_wn.compat import lasagne
from tf1_wn.compat.lasagne import nn

LR, B1, B2 = 0.003, 0.9, 0.999


def _cost_and_grad(c):
    """cost = sum(c * p + 0.05 * p**2), so dcost/dp = c + 0.1 * p."""
    return (lambda p: tf.reduce_sum(c * p + 0.05 * p ** 2),
            lambda p: c + 0.1 * p)


def _numpy_improved_gan(p, grad, steps):
    v, mg, t = np.zeros_like(p), np.zeros_like(p), 1.0
    for _ in range(steps):
        g = grad(p)
        v = B1 * v + (1 - B1) * g
        mg = B2 * mg + (1 - B2) * g * g
        p = p - LR * (v / (1 - B1 ** t)) / np.sqrt(mg / (1 - B2 ** t) + 1e-8)
        t += 1
    return p


def _numpy_lasagne(p, grad, steps):
    m, v, t = np.zeros_like(p), np.zeros_like(p), 0
    for _ in range(steps):
        t += 1
        g = grad(p)
        a = LR * np.sqrt(1 - B2 ** t) / (1 - B1 ** t)
        m = B1 * m + (1 - B1) * g
        v = B2 * v + (1 - B2) * g * g
        p = p - a * m / (np.sqrt(v) + 1e-8)
    return p


@pytest.mark.parametrize("scale", [1.0, 1e-4, 1e-6])
@pytest.mark.parametrize("which", ["improved_gan", "lasagne"])
def test_three_steps_match_numpy(graph, rng, scale, which):
    start = rng.normal(size=(3, 4)) * scale
    c = rng.normal(size=(3, 4)) * scale
    p = tf.Variable(start, name="p")
    cost, grad = _cost_and_grad(c)
    if which == "improved_gan":
        updates = nn.adam_updates([p], cost(p), lr=LR, mom1=B1, mom2=B2)
        reference = _numpy_improved_gan
    else:
        updates = lasagne.updates.adam(cost(p), [p], learning_rate=LR,
                                       beta1=B1, beta2=B2)
        reference = _numpy_lasagne
    step = lasagne.apply_updates(updates)
    with tf.Session() as sess:
        sess.run(tf.global_variables_initializer())
        for _ in range(3):
            sess.run(step)
        got = sess.run(p)
    want = reference(start, grad, 3)
    np.testing.assert_allclose(got, want, rtol=1e-12,
                               atol=1e-12 * np.abs(want).max())


def test_the_formulas_differ_where_the_original_says(graph):
    """With a gradient of 1e-4 Lasagne's first step is 41% larger than
    improved-gan's (the 1e-8 inside vs outside the root)."""
    grad = (lambda p: np.full_like(p, 1e-4))
    start = np.zeros(1)
    improved = -_numpy_improved_gan(start, grad, 1)[0]
    lasagne_step = -_numpy_lasagne(start, grad, 1)[0]
    assert lasagne_step / improved == pytest.approx(1.41, abs=0.01)
    p = tf.Variable(start)
    step = lasagne.apply_updates(nn.adam_updates(
        [p], tf.reduce_sum(1e-4 * p), lr=LR))
    with tf.Session() as sess:
        sess.run(tf.global_variables_initializer())
        sess.run(step)
        assert -sess.run(p)[0] == pytest.approx(improved, rel=1e-12)


def test_update_order_is_the_originals(graph):
    a = tf.Variable(np.ones(2), name="a")
    b = tf.Variable(np.ones(3), name="b")
    updates = nn.adam_updates([a, b], tf.reduce_sum(a) + tf.reduce_sum(b))
    names = [variable.op.name for variable, _ in updates]
    assert names == ["adam_v", "adam_mg", "a", "adam_v_1", "adam_mg_1", "b",
                     "adam_t"]
    assert [v.shape.as_list() for v, _ in updates[:2]] == [[2], [2]]
