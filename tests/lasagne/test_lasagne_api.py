"""The Lasagne mirror's API: namespaces, parameter lists and tags, values in
and out, simultaneous updates, dtypes, graph-mode guard and error messages."""
import numpy as np
import pytest
import tensorflow.compat.v1 as tf

from tf1_wn.compat import lasagne

L = lasagne.layers


def small_net(dtype=tf.float64, train_g=False, names=False):
    l_in = L.InputLayer((None, 3, 6, 6), dtype=dtype)
    conv = L.Conv2DLayer(l_in, 4, 3, pad=1, W=lasagne.init.Normal(0.05),
                         name="conv1" if names else None)
    conv_wn = L.weight_norm(conv, train_g=train_g,
                            name="conv1_wn" if names else None)
    pool = L.GlobalPoolLayer(conv_wn)
    dense = L.DenseLayer(pool, 2, nonlinearity=None,
                         name="out" if names else None)
    return l_in, conv, conv_wn, dense


def test_flat_and_submodule_names_are_the_same_objects():
    assert lasagne.DenseLayer is lasagne.layers.DenseLayer
    assert lasagne.get_output is lasagne.layers.get_output
    assert lasagne.rectify is lasagne.nonlinearities.rectify
    assert lasagne.relu is lasagne.nn.relu
    assert lasagne.weight_norm is lasagne.nn.weight_norm
    assert lasagne.apply_updates is lasagne.updates.apply_updates
    for name in ["InputLayer", "Conv1DLayer", "Conv2DLayer", "Deconv2DLayer",
                 "NINLayer", "GlobalPoolLayer", "ReshapeLayer",
                 "NonlinearityLayer", "DropoutLayer", "GaussianNoiseLayer",
                 "WeightNormLayer", "MeanOnlyBNLayer", "mean_only_bn",
                 "get_all_layers", "get_all_params", "get_all_param_values",
                 "set_all_param_values", "get_init_updates", "lrelu",
                 "identity", "tanh", "sigmoid", "softmax"]:
        assert hasattr(lasagne, name), name
    for name in ["Normal", "Constant", "GlorotUniform"]:
        assert hasattr(lasagne.init, name), name


def test_params_order_tags_and_names(graph):
    l_in, conv, conv_wn, dense = small_net(names=True)
    assert L.get_all_layers(dense) == [l_in, conv, conv_wn,
                                       dense.input_layer, dense]
    assert L.get_all_param_names(dense) == [
        "conv1.W", "conv1_wn.b", "conv1_wn.g", "out.W", "out.b"]
    params = L.get_all_params(dense)
    assert params[0] is conv.W_param and params[3] is dense.W

    def names(ps):
        return [p.name for p in ps]
    assert names(L.get_all_params(dense, trainable=True)) == names(
        [conv.W_param, conv_wn.b, dense.W, dense.b])
    assert names(L.get_all_params(dense, regularizable=True)) == names(
        [conv.W_param, dense.W])
    assert names(L.get_all_params(dense, trainable=False)) == names(
        [conv_wn.g])
    # Variables carry the layer name; the dropped conv bias is gone from TF's
    # collections as from Lasagne's params.
    assert conv.W_param.name.startswith("conv1/W")
    assert {v.name for v in tf.trainable_variables()} == set(
        names(L.get_all_params(dense, trainable=True)))
    assert {v.name for v in tf.global_variables()} == set(names(params))
    assert L.count_params(dense) == 4 * 3 * 9 + 4 + 4 + 4 * 2 + 2


def test_train_g_true_puts_g_in_trainable(graph):
    _, _, conv_wn, dense = small_net(train_g=True)
    trainable = L.get_all_params(dense, trainable=True)
    assert any(p is conv_wn.g for p in trainable)


def test_set_get_round_trip_and_outputs(graph, rng):
    l_in, _, _, dense = small_net()
    x = rng.normal(size=(2, 3, 6, 6))
    out = L.get_output(dense, x)
    values = [rng.normal(size=p.shape.as_list())
              for p in L.get_all_params(dense)]
    with tf.Session() as sess:
        sess.run(tf.global_variables_initializer())
        L.set_all_param_values(dense, values)
        n_ops = len(tf.get_default_graph().get_operations())
        L.set_all_param_values(dense, values)
        assert len(tf.get_default_graph().get_operations()) == n_ops
        got = L.get_all_param_values(dense)
        first = sess.run(out)
    for a, b in zip(got, values):
        np.testing.assert_array_equal(a, b)
    # A second graph loading the same values computes the same outputs.
    with tf.Graph().as_default():
        _, _, _, dense2 = small_net()
        out2 = L.get_output(dense2, x)
        with tf.Session() as sess:
            sess.run(tf.global_variables_initializer())
            L.set_all_param_values(dense2, got, session=sess)
            np.testing.assert_array_equal(sess.run(out2), first)


def test_set_all_param_values_errors_name_parameter_and_shapes(graph, rng):
    _, _, _, dense = small_net(names=True)
    values = [np.zeros(p.shape.as_list()) for p in L.get_all_params(dense)]
    with tf.Session():
        bad = list(values)
        bad[1] = np.zeros(5)
        with pytest.raises(ValueError, match=r"conv1_wn\.b.*\(4,\).*\(5,\)"):
            L.set_all_param_values(dense, bad)
        with pytest.raises(ValueError, match="got 4 values to set 5"):
            L.set_all_param_values(dense, values[:4])
    with pytest.raises(RuntimeError, match="session"):
        L.get_all_param_values(dense)


def test_apply_updates_reads_before_writes(graph):
    a = tf.Variable([1.0, 2.0], dtype=tf.float64)
    b = tf.Variable([3.0, 4.0], dtype=tf.float64)
    op = lasagne.updates.apply_updates([(a, b), (b, a + b)])
    assert isinstance(op, tf.Operation)
    with tf.Session() as sess:
        sess.run(tf.global_variables_initializer())
        for _ in range(20):  # scheduling is not deterministic; repeat
            sess.run([a.initializer, b.initializer])
            sess.run(op)
            np.testing.assert_array_equal(sess.run(a), [3.0, 4.0])
            np.testing.assert_array_equal(sess.run(b), [4.0, 6.0])
    with pytest.raises(TypeError, match="pair"):
        lasagne.updates.apply_updates([(1.0, 2.0)])
    with pytest.raises(ValueError, match="shape"):
        lasagne.updates.apply_updates([(a, tf.zeros([3], tf.float64))])


def test_get_init_updates_before_init_pass_raises(graph):
    _, _, _, dense = small_net()
    with pytest.raises(RuntimeError, match="init=True"):
        L.get_init_updates(dense)


def test_dtypes_float32_default_and_set_floatX(graph):
    _, conv, conv_wn, dense = small_net(dtype=None)
    assert conv.W_param.dtype.base_dtype == tf.float32
    assert L.get_output(dense).dtype == tf.float32
    old = lasagne.set_floatX("float64")
    try:
        l_in = L.InputLayer((None, 4))
        layer = L.DenseLayer(l_in, 2)
        assert layer.W.dtype.base_dtype == tf.float64
    finally:
        lasagne.set_floatX(old)
    assert lasagne.get_floatX() == tf.float32
    with pytest.raises(ValueError, match="int32"):
        lasagne.set_floatX("int32")


def test_float32_weight_norm_close_to_float64(graph, rng):
    x = rng.normal(size=(5, 3, 6, 6))
    values = None
    outs = []
    for dtype in (tf.float64, tf.float32):
        with tf.Graph().as_default():
            l_in, _, _, dense = small_net(dtype=dtype)
            out = L.get_output(dense, x.astype(dtype.as_numpy_dtype))
            with tf.Session() as sess:
                sess.run(tf.global_variables_initializer())
                if values is None:
                    values = L.get_all_param_values(dense)
                L.set_all_param_values(dense, values)
                outs.append(sess.run(out))
    np.testing.assert_allclose(outs[1], outs[0], rtol=1e-4, atol=1e-6)


def test_get_output_with_dict_and_bad_inputs(graph, rng):
    l_in, conv, conv_wn, dense = small_net()
    feat = rng.normal(size=(2, 4))
    out = L.get_output(dense, {dense.input_layer: feat})
    W, b = None, None
    with tf.Session() as sess:
        sess.run(tf.global_variables_initializer())
        got, W, b = sess.run([out, dense.W, dense.b])
    np.testing.assert_allclose(got, feat @ W + b, rtol=1e-12)
    with pytest.raises(ValueError, match="incompatible"):
        L.get_output(dense, np.zeros((2, 3, 5, 5)))
    with pytest.raises(TypeError, match="layer_or_layers"):
        L.get_output("dense")


def test_constructor_errors_name_argument_and_value(graph):
    l_in = L.InputLayer((None, 3, 8, 8))
    with pytest.raises(ValueError, match="num_filters.*-2"):
        L.Conv2DLayer(l_in, -2, 3)
    with pytest.raises(ValueError, match="pad.*'half'"):
        L.Conv2DLayer(l_in, 2, 3, pad="half")
    with pytest.raises(ValueError, match="same.*odd"):
        L.Conv2DLayer(l_in, 2, 4, pad="same")
    with pytest.raises(ValueError, match="stride.*0"):
        L.Conv2DLayer(l_in, 2, 3, stride=0)
    with pytest.raises(ValueError, match="filter_size.*\\(3, 3, 3\\)"):
        L.Conv2DLayer(l_in, 2, (3, 3, 3))
    with pytest.raises(ValueError, match="parameter 'W'.*\\(2, 3, 3, 3\\).*"
                       "\\(2, 3, 5, 5\\)"):
        L.Conv2DLayer(l_in, 2, 3, W=np.zeros((2, 3, 5, 5)))
    with pytest.raises(ValueError, match="target_shape.*maps back"):
        lasagne.nn.Deconv2DLayer(l_in, (None, 3, 20, 20), 5)
    with pytest.raises(ValueError, match="shape.*-3"):
        L.InputLayer((None, -3))
    with pytest.raises(TypeError, match="incoming"):
        L.DenseLayer((None, 3), 4)
    with pytest.raises(TypeError, match="weight W"):
        L.weight_norm(L.GlobalPoolLayer(l_in))
    with pytest.raises(ValueError, match="p must be"):
        L.DropoutLayer(l_in, p=1.0)
    with pytest.raises(ValueError, match="Conv1DLayer.*3-D"):
        L.Conv1DLayer(l_in, 2, 3)


def test_eager_mode_is_refused(monkeypatch):
    # The suite runs with eager disabled; simulate an eager context.
    monkeypatch.setattr(tf, "executing_eagerly", lambda: True)
    for build in (lambda: L.InputLayer((None, 3)),
                  lambda: L.get_output(None)):
        with pytest.raises(RuntimeError,
                           match="disable_eager_execution.*tf.Graph"):
            build()


def test_init_samples_from_seeded_numpy_rng(graph):
    old = lasagne.random.get_rng()
    try:
        lasagne.random.set_rng(np.random.RandomState(42))
        l_in = L.InputLayer((None, 5))
        layer = L.DenseLayer(l_in, 3)  # GlorotUniform, as Lasagne's default
        with tf.Session() as sess:
            sess.run(tf.global_variables_initializer())
            W = sess.run(layer.W)
    finally:
        lasagne.random.set_rng(old)
    a = np.sqrt(3) * np.sqrt(2.0 / (5 + 3))
    expected = np.random.RandomState(42).uniform(-a, a, size=(5, 3))
    np.testing.assert_allclose(W, expected.astype(np.float32), rtol=0)
