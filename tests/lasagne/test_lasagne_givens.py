"""`lasagne.Givens`: evaluating a model on its Polyak averages as
improved-gan's ``givens=`` does, with the parameters restored after."""
import numpy as np
import pytest
import tensorflow.compat.v1 as tf

from tf1_wn.compat import lasagne

L = lasagne.layers


def test_output_on_the_averages_then_parameters_restored(graph, rng):
    x = rng.normal(size=(4, 3))
    l_in = L.InputLayer((None, 3), input_var=tf.constant(x))
    dense = L.DenseLayer(l_in, 2, nonlinearity=None)
    params = L.get_all_params(dense)
    averages = [tf.Variable(rng.normal(size=p.shape.as_list()))
                for p in params]
    givens = lasagne.Givens(zip(params, averages))
    out = L.get_output(dense)
    assert not [v for v in tf.global_variables() if "backup" in v.name]
    with tf.Session() as sess:
        sess.run(tf.global_variables_initializer())
        own = sess.run(params)
        avg = sess.run(averages)
        with givens.applied(sess):
            on_average = sess.run(out)
        np.testing.assert_allclose(on_average, x @ avg[0] + avg[1],
                                   rtol=1e-12)
        for got, want in zip(sess.run(params), own):
            np.testing.assert_array_equal(got, want)
        with pytest.raises(KeyError):
            with givens.applied(sess):
                raise KeyError("inside")
        for got, want in zip(sess.run(params), own):
            np.testing.assert_array_equal(got, want)


def test_givens_checks_its_pairs(graph):
    v = tf.Variable(np.zeros(3))
    with pytest.raises(TypeError, match="pair"):
        lasagne.Givens([(np.zeros(3), v)])
    with pytest.raises(ValueError, match="shape"):
        lasagne.Givens([(v, tf.zeros([4], tf.float64))])
