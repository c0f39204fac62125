"""tf-slim's layer arguments and collections on every layer, modelled on
tf-slim's layers_test.py (named in each test): outputs_collections and
aliases, weights/biases regularizers (once per variable, also under reuse
and arg_scope), trainable=False, variables_collections, MODEL_VARIABLES.
The regularization values are checked against NumPy."""
import re

import numpy as np
import pytest
import tensorflow.compat.v1 as tf
import tf_slim as slim

import reference as ref
import tf1_wn

L2 = 0.01

# (builder taking scope and keyword arguments, input shape, reduce axes of
# the kernel, name of the kernel variable)
LAYERS = {
    "dense": (lambda x, **kw: tf1_wn.dense(x, 4, **kw), (5, 6), [0], "v"),
    "conv2d": (lambda x, **kw: tf1_wn.conv2d(x, 4, 3, **kw), (2, 5, 5, 3),
               [0, 1, 2], "v"),
    "conv2d_transpose": (
        lambda x, **kw: tf1_wn.conv2d_transpose(x, 4, 3, strides=2, **kw),
        (2, 3, 3, 3), [0, 1, 3], "v"),
    "depthwise": (lambda x, **kw: tf1_wn.depthwise_conv2d(x, 3, **kw),
                  (2, 5, 5, 3), [0, 1], "v"),
    "object_conv1d": (
        lambda x, scope=None, **kw: tf1_wn.WeightNormConv1D(
            4, 3, name=scope, **kw)(x), (2, 7, 3), [0, 1], "v"),
    "ws_conv2d": (lambda x, **kw: tf1_wn.ws_conv2d(x, 4, 3, **kw),
                  (2, 5, 5, 3), None, "kernel"),
    "ws_object": (
        lambda x, scope=None, **kw: tf1_wn.WeightStandardizedConv2D(
            4, 3, name=scope, **kw)(x), (2, 5, 5, 3), None, "kernel"),
}


def _build(name, rng, **kwargs):
    build, shape, _, _ = LAYERS[name]
    x = tf.constant(rng.normal(size=shape).astype(np.float32))
    return build(x, **kwargs)


def _variable(scope, name):
    (var,) = [v for v in tf.global_variables()
              if v.op.name == f"{scope}/{name}"]
    return var


@pytest.mark.parametrize("name", sorted(LAYERS))
def test_outputs_collection_with_alias(graph, rng, name):
    """testCreateConvWithCollection / testCreateFCWithCollection."""
    with tf.name_scope("fe"):
        out = _build(name, rng, outputs_collections="outputs", scope="Conv")
    (collected,) = tf.get_collection("outputs")
    assert collected is out
    assert collected.aliases == ["Conv"]
    assert list(slim.utils.convert_collection_to_dict("outputs")) == ["Conv"]


@pytest.mark.parametrize("name", sorted(LAYERS))
def test_weight_regularizer_value(graph, rng, name):
    """testCreateConvWithWD: the loss is the regularizer of the normalized
    weight for weight norm (of the kernel variable for WS)."""
    _build(name, rng, kernel_regularizer=slim.l2_regularizer(L2),
           scope="conv")
    (loss,) = tf.get_collection(tf.GraphKeys.REGULARIZATION_LOSSES)
    kernel_name, axes = LAYERS[name][3], LAYERS[name][2]
    # (a layer object's ops live in a name scope of their own, "conv_1")
    assert re.fullmatch(rf"conv(_1)?/{kernel_name}/Regularizer/"
                        r"l2_regularizer", loss.op.name), loss.op.name
    with tf.Session() as sess:
        sess.run(tf.global_variables_initializer())
        kernel = _variable("conv", kernel_name)
        if axes is not None:  # weight norm: give g values other than 1
            g = _variable("conv", "g")
            g.load(rng.uniform(0.5, 2.0, size=g.shape.as_list()), sess)
            v, g_value = sess.run([kernel, g])
            weight = ref.weight_norm(v.astype(np.float64), g_value, axes)
        else:
            weight = sess.run(kernel).astype(np.float64)
        got = sess.run(loss)
    np.testing.assert_allclose(got, L2 * 0.5 * np.sum(weight ** 2),
                               rtol=1e-5)
    if axes is not None:  # L2 on the normalized weight = L2 on g
        np.testing.assert_allclose(got, L2 * 0.5 * np.sum(g_value ** 2),
                                   rtol=1e-5)


@pytest.mark.parametrize("name", sorted(LAYERS))
def test_bias_regularizer(graph, rng, name):
    """testCreateFCWithBD."""
    _build(name, rng, bias_regularizer=slim.l2_regularizer(L2), scope="fc",
           bias_initializer=tf.constant_initializer(3.0))
    (loss,) = tf.get_collection(tf.GraphKeys.REGULARIZATION_LOSSES)
    assert re.fullmatch(r"fc(_1)?/bias/Regularizer/l2_regularizer",
                        loss.op.name), loss.op.name
    with tf.Session() as sess:
        sess.run(tf.global_variables_initializer())
        n = _variable("fc", "bias").shape.as_list()[0]
        np.testing.assert_allclose(sess.run(loss), L2 * 0.5 * 9.0 * n,
                                   rtol=1e-6)


@pytest.mark.parametrize("name", sorted(LAYERS))
def test_no_regularizers_by_default(graph, rng, name):
    """testCreateConvNoRegularizers / testCreateNoRegularizers."""
    _build(name, rng)
    assert tf.get_collection(tf.GraphKeys.REGULARIZATION_LOSSES) == []


@pytest.mark.parametrize("layer", [tf1_wn.conv2d, tf1_wn.ws_conv2d])
def test_reuse_under_arg_scope_adds_one_loss(graph, rng, layer):
    """testReuseConvWithWD."""
    images = tf.constant(rng.normal(size=(5, 7, 9, 3)).astype(np.float32))
    with slim.arg_scope([layer], kernel_regularizer=slim.l2_regularizer(L2)):
        layer(images, 32, 3, scope="conv1")
        assert len(tf.global_variables()) in (2, 3)
        count = len(tf.global_variables())
        assert len(tf.losses.get_regularization_losses()) == 1
        layer(images, 32, 3, scope="conv1", reuse=True)
        assert len(tf.global_variables()) == count
        assert len(tf.losses.get_regularization_losses()) == 1


def test_reuse_with_regularizer_in_outer_scopes(graph, rng):
    """testReuseWithRegularizer (fully_connected)."""
    inputs = tf.constant(rng.uniform(size=(5, 27)).astype(np.float32))

    def regularizer(x):
        return tf.reduce_sum(x) * 1e-3

    tf1_wn.dense(inputs, 32, scope="fc1", kernel_regularizer=regularizer)
    assert len(tf.losses.get_regularization_losses()) == 1
    tf1_wn.dense(inputs, 32, scope="fc1", kernel_regularizer=regularizer,
                 reuse=True)
    assert len(tf.losses.get_regularization_losses()) == 1
    with tf.variable_scope("outer", reuse=False):
        tf1_wn.dense(inputs, 32, scope="fc", kernel_regularizer=regularizer)
    assert len(tf.losses.get_regularization_losses()) == 2
    with tf.variable_scope("outer", reuse=True):
        tf1_wn.dense(inputs, 32, scope="fc", kernel_regularizer=regularizer)
    assert len(tf.losses.get_regularization_losses()) == 2


@pytest.mark.parametrize("trainable", [True, False])
@pytest.mark.parametrize("name", sorted(LAYERS))
def test_trainable_flag_is_passed_on(graph, rng, name, trainable):
    """testTrainableFlagIsPassedOn: every model variable is trainable
    exactly when the layer is."""
    kwargs = {"gain": True} if name.startswith("ws") else {}
    _build(name, rng, trainable=trainable, **kwargs)
    model_variables = slim.get_model_variables()
    assert len(model_variables) == 3
    trainable_variables = tf.trainable_variables()
    for var in model_variables:
        assert any(var is t for t in trainable_variables) == trainable


def test_trainable_false_freezes_a_fine_tuned_backbone(graph, rng):
    """A frozen WN backbone under a trainable head: an optimizer step moves
    only the head, and data init still sets the backbone's g and bias."""
    x = tf.constant(rng.normal(size=(8, 6, 6, 3)).astype(np.float32))
    features = tf1_wn.conv2d(x, 4, 3, trainable=False, init=True,
                             activation=tf.nn.relu, scope="backbone")
    logits = tf1_wn.dense(tf.reduce_mean(features, [1, 2]), 2, scope="head")
    step = tf.train.GradientDescentOptimizer(0.1).minimize(
        tf.reduce_sum(logits ** 2))
    assert {v.op.name for v in tf.trainable_variables()} == {
        "head/v", "head/g", "head/bias"}
    with tf.Session() as sess:
        sess.run(tf.global_variables_initializer())
        sess.run(tf1_wn.init_op())
        backbone = [v for v in tf.global_variables()
                    if v.op.name.startswith("backbone/")]
        before = sess.run(backbone)
        sess.run(step)
        after = sess.run(backbone)
    for a, b in zip(before, after):
        np.testing.assert_array_equal(a, b)
    assert not np.allclose(before[1], 1.0)  # g was data-initialized


def test_variables_collections_dict_and_list(graph, rng):
    """testVariablesCollections (batch_norm's dict form), with slim's
    ``weights`` / ``biases`` keys or tf1-wn's variable names."""
    x = tf.constant(rng.normal(size=(2, 5)).astype(np.float32))
    tf1_wn.dense(x, 3, scope="fc", variables_collections={
        "weights": ["weights"], "g": ["gains"], "biases": ["biases"]})
    for collection, name in (("weights", "fc/v"), ("gains", "fc/g"),
                             ("biases", "fc/bias")):
        assert [v.op.name for v in tf.get_collection(collection)] == [name]
    tf1_wn.ws_conv2d(tf.zeros([1, 4, 4, 2]), 3, 3, scope="ws",
                     variables_collections=["all"])
    assert [v.op.name for v in tf.get_collection("all")] == [
        "ws/kernel", "ws/bias"]


def test_model_variables_for_slim_restore_helpers(graph, rng):
    x = tf.constant(rng.normal(size=(2, 5)).astype(np.float32))
    tf1_wn.dense(x, 3, scope="fc")
    tf1_wn.WeightNormDense(2, name="head")(x)
    assert [v.op.name for v in slim.get_model_variables()] == [
        "fc/v", "fc/g", "fc/bias", "head/v", "head/g", "head/bias"]
    restore = slim.get_variables_to_restore(include=["fc"])
    assert [v.op.name for v in restore] == ["fc/v", "fc/g", "fc/bias"]


@pytest.mark.parametrize("kwargs, match", [
    (dict(trainable=0), "`trainable` must be True or False; got 0"),
    (dict(kernel_regularizer=0.01), "kernel_regularizer"),
    (dict(bias_regularizer="l2"), "bias_regularizer"),
    (dict(variables_collections=[1]), "variables_collections"),
    (dict(outputs_collections={"a": "b"}), "outputs_collections"),
])
@pytest.mark.parametrize("build", [
    lambda **kw: tf1_wn.dense(tf.zeros([2, 3]), 2, **kw),
    lambda **kw: tf1_wn.WeightNormConv2D(2, 3, **kw),
    lambda **kw: tf1_wn.ws_conv2d(tf.zeros([1, 4, 4, 2]), 2, 3, **kw),
    lambda **kw: tf1_wn.WeightStandardizedConv2D(2, 3, **kw),
])
def test_bad_slim_arguments_name_themselves(graph, build, kwargs, match):
    with pytest.raises(TypeError, match=match):
        build(**kwargs)
