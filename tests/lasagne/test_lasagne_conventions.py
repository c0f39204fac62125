"""Lasagne conventions the research scripts rely on: noise-layer
constructors consume one draw of ``lasagne.random`` (so a seeded model has
Lasagne's initial values), and ``init_updates`` / ``bn_updates`` do not
exist until a pass made them (the scripts read them with ``getattr(l,
'init_updates', [])``)."""
import numpy as np
import pytest
import tensorflow.compat.v1 as tf

from tf1_wn.compat import lasagne
from tf1_wn.compat.lasagne import nn

L = lasagne.layers


def test_noise_layers_consume_lasagnes_draw(graph, seeded):
    seeded(5)
    normal = lasagne.init.Normal(0.05)
    l_in = L.InputLayer((None, 6))
    first = L.DenseLayer(l_in, 4, W=normal)
    noisy = nn.GaussianNoiseLayer(L.DropoutLayer(first, p=0.5), sigma=0.3)
    second = L.DenseLayer(noisy, 3, W=normal)
    # Lasagne's order of draws: W1, the dropout's and the noise layer's
    # stream seeds (randint(1, 2147462579) each), then W2.
    reference = np.random.RandomState(5)
    w1 = reference.normal(0.0, 0.05, size=(6, 4))
    seeds = [reference.randint(1, 2147462579) for _ in range(2)]
    w2 = reference.normal(0.0, 0.05, size=(4, 3))
    assert [noisy.input_layer.seed, noisy.seed] == seeds
    with tf.Session() as sess:
        sess.run(tf.global_variables_initializer())
        got1, got2 = sess.run([first.W, second.W])
    np.testing.assert_array_equal(got1, w1.astype(np.float32))
    np.testing.assert_array_equal(got2, w2.astype(np.float32))


def test_set_rng_needs_randint():
    class NoRandint:
        def normal(self):
            pass

        def uniform(self):
            pass

    with pytest.raises(TypeError, match="randint"):
        lasagne.random.set_rng(NoRandint())


def test_init_updates_absent_until_an_init_pass(graph, rng):
    x = tf.constant(rng.normal(size=(8, 5)), tf.float32)
    l_in = L.InputLayer((None, 5), input_var=x)
    wn = nn.weight_norm(L.DenseLayer(l_in, 3))
    assert not hasattr(wn, "init_updates")
    assert getattr(wn, "init_updates", []) == []  # the scripts' idiom
    lasagne.layers.get_output(wn, init=True)
    assert [v.name for v, _ in wn.init_updates] == [wn.b.name, wn.g.name]


def test_bn_updates_absent_until_a_training_pass(graph, rng):
    x = tf.constant(rng.normal(size=(8, 5)), tf.float32)
    l_in = L.InputLayer((None, 5), input_var=x)
    bn = nn.mean_only_bn(L.DenseLayer(l_in, 3))
    assert not hasattr(bn, "bn_updates")
    assert not hasattr(bn, "init_updates")
    lasagne.layers.get_output(bn, deterministic=True)
    assert not hasattr(bn, "bn_updates")
    lasagne.layers.get_output(bn)
    assert [v.name for v, _ in bn.bn_updates] == [bn.avg_batch_mean.name]
