"""``lasagne.objectives`` and ``get_output_shape`` against NumPy and
Lasagne's shape rules."""
import numpy as np
import pytest
import tensorflow.compat.v1 as tf

from tf1_wn.compat import lasagne

OBJ = lasagne.objectives
L = lasagne.layers


def _run(tensor):
    with tf.Session() as sess:
        return sess.run(tensor)


def test_crossentropies_and_squared_error(graph, rng):
    logits = rng.normal(size=(5, 4))
    p = np.exp(logits) / np.exp(logits).sum(1, keepdims=True)
    labels = rng.integers(0, 4, size=5)
    onehot = np.eye(4)[labels]
    want = -np.log(p[np.arange(5), labels])
    np.testing.assert_allclose(_run(OBJ.categorical_crossentropy(
        tf.constant(p), tf.constant(labels))), want, rtol=1e-12)
    np.testing.assert_allclose(_run(OBJ.categorical_crossentropy(
        tf.constant(p), tf.constant(onehot))), want, rtol=1e-12)
    q = 1 / (1 + np.exp(-logits[:, :1]))
    t = (rng.uniform(size=5) > 0.5).astype(np.float64)
    got = _run(OBJ.binary_crossentropy(tf.constant(q), tf.constant(t)))
    assert got.shape == (5, 1)  # the 1-D target is aligned as a column
    np.testing.assert_allclose(
        got[:, 0], -(t * np.log(q[:, 0]) + (1 - t) * np.log(1 - q[:, 0])),
        rtol=1e-12)
    np.testing.assert_allclose(
        _run(OBJ.squared_error(tf.constant(p), tf.constant(onehot))),
        (p - onehot) ** 2, rtol=1e-12)


def test_aggregate_and_accuracies(graph, rng):
    loss = rng.uniform(size=6)
    w = np.array([1.0, 0, 2, 1, 0, 1])
    assert _run(OBJ.aggregate(tf.constant(loss))) == pytest.approx(loss.mean())
    assert _run(OBJ.aggregate(tf.constant(loss), tf.constant(w), "sum")) == \
        pytest.approx((loss * w).sum())
    assert _run(OBJ.aggregate(tf.constant(loss), tf.constant(w),
                              "normalized_sum")) == \
        pytest.approx((loss * w).sum() / w.sum())
    with pytest.raises(ValueError, match="normalized_sum"):
        OBJ.aggregate(tf.constant(loss), mode="normalized_sum")
    with pytest.raises(ValueError, match="mode must be"):
        OBJ.aggregate(tf.constant(loss), mode="median")
    p = rng.uniform(size=(6, 3))
    labels = rng.integers(0, 3, size=6)
    top2 = np.argsort(-p, 1)[:, :2]
    np.testing.assert_array_equal(
        _run(OBJ.categorical_accuracy(tf.constant(p), tf.constant(labels),
                                      top_k=2)),
        [float(labels[i] in top2[i]) for i in range(6)])
    np.testing.assert_array_equal(
        _run(OBJ.binary_accuracy(tf.constant(p[:, 0]),
                                 tf.constant(labels % 2))),
        ((p[:, 0] >= 0.5) == (labels % 2)).astype(float))


def test_get_output_shape(graph):
    l_in = L.InputLayer((None, 3, 8, 8))
    conv = L.Conv2DLayer(l_in, 5, 3, stride=2, pad=1)
    dense = L.DenseLayer(conv, 7)
    assert L.get_output_shape(dense) == (None, 7)
    assert L.get_output_shape([conv, dense]) == [(None, 5, 4, 4), (None, 7)]
    assert L.get_output_shape(conv, (10, 3, 16, 16)) == (10, 5, 8, 8)
    assert L.get_output_shape(conv, {l_in: (2, 3, 6, 6)}) == (2, 5, 3, 3)
    other = L.InputLayer((None, 7))
    both = L.ConcatLayer([dense, other])
    assert L.get_output_shape(both) == (None, 14)
    with pytest.raises(ValueError, match="one InputLayer"):
        L.get_output_shape(both, (1, 3, 8, 8))
