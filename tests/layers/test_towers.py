"""`tf1_wn.build_towers`: data init of a model built as towers pools its
statistics over all of them, so it equals one init over the concatenated
batch, and every tower sees the pooled initialized activations."""
import numpy as np
import pytest
import tensorflow.compat.v1 as tf
from tf_slim import arg_scope

import tf1_wn
from tf1_wn.compat import pixelcnn as nn


def _conv_model(x, init=False):
    """Every layer kind with a data init, stacked."""
    h = tf1_wn.conv2d(x, 6, 3, init=init, activation=tf.nn.elu,
                      scope="conv")
    h = tf1_wn.depthwise_conv2d(h, 3, depth_multiplier=2, init=init,
                                activation=tf.nn.elu, scope="depthwise")
    h = tf1_wn.conv2d_transpose(h, 5, 2, strides=2, init=init,
                                activation=tf.nn.elu, scope="deconv")
    h = tf1_wn.conv1d(tf.reshape(h, [-1, 10 * 10, 5]), 4, 3, init=init,
                      activation=tf.nn.elu, scope="conv1d")
    return tf1_wn.dense(tf.reshape(h, [-1, 400]), 7, init=init,
                        init_scale=0.5, scope="dense")


def _variables(sess):
    return {v.op.name: sess.run(v) for v in tf.global_variables()}


def _init_values(model_fn, batch, towers, devices=None, config=None):
    """g and bias after data init, and the init-mode outputs (the towers'
    concatenated), built as `towers` towers (0: one plain call)."""
    with tf.Graph().as_default():
        tf.set_random_seed(7)
        model = tf.make_template("model", model_fn)
        x = tf.constant(batch)
        if towers == 0:
            outputs = model(x, init=True)
        else:
            outputs = tf.concat(tf1_wn.build_towers(
                lambda part: model(part, init=True), tf.split(x, towers),
                devices=devices), 0)
        plain = model(x)
        with tf.Session(config=config) as sess:
            sess.run(tf.global_variables_initializer())
            sess.run(tf1_wn.init_op())
            return _variables(sess), sess.run(outputs), sess.run(plain)


@pytest.mark.parametrize("dtype, rtol", [(np.float64, 1e-12),
                                         (np.float32, 1e-6)])
def test_pooled_init_equals_one_init_over_the_whole_batch(rng, dtype, rtol):
    batch = rng.normal(size=(8, 5, 5, 3)).astype(dtype) * 2 + 0.5
    want, want_out, _ = _init_values(_conv_model, batch, 0)
    got, got_out, plain = _init_values(_conv_model, batch, 4,
                                       devices=["/cpu:0"] * 4)
    assert sorted(got) == sorted(want)
    for name in want:
        atol = 1e-12 if dtype == np.float64 else 1e-6
        np.testing.assert_allclose(got[name], want[name], rtol=rtol,
                                   atol=atol, err_msg=name)
    np.testing.assert_allclose(got_out, want_out, rtol=10 * rtol,
                               atol=10 * rtol)
    np.testing.assert_allclose(plain, got_out, rtol=10 * rtol,
                               atol=10 * rtol)
    # the head's statistics over the whole batch, in float64 NumPy
    out = got_out.astype(np.float64)
    np.testing.assert_allclose(out.mean(0), 0, atol=1e-5)
    np.testing.assert_allclose(out.std(0), 0.5, rtol=1e-5)


def test_towers_on_four_cpu_devices(rng):
    config = tf.ConfigProto(device_count={"CPU": 4},
                            allow_soft_placement=False)
    batch = rng.normal(size=(8, 5, 5, 3)).astype(np.float32)
    want, _, _ = _init_values(_conv_model, batch, 0)
    got, _, _ = _init_values(_conv_model, batch, 4, config=config,
                             devices=["/cpu:%d" % k for k in range(4)])
    for name in want:
        np.testing.assert_allclose(got[name], want[name], rtol=1e-6,
                                   atol=1e-6, err_msg=name)


def test_each_tower_computes_on_its_device(graph):
    model = tf.make_template("model", _conv_model)
    tf1_wn.build_towers(lambda x: model(x, init=True),
                        [tf.zeros([2, 5, 5, 3])] * 2,
                        devices=["/cpu:0", "/cpu:1"])
    convs = [op for op in graph.get_operations() if op.type == "Conv2D"]
    devices = sorted(op.device[-5:] for op in convs)
    assert devices == ["CPU:0"] * (len(convs) // 2) + ["CPU:1"] * (
        len(convs) // 2), devices
    assert len(tf.get_collection(tf1_wn.INIT_OPS)) == 5   # once per layer


def _pixelcnn_model(x, init=False):
    counters = {}
    with arg_scope([nn.conv2d, nn.deconv2d, nn.gated_resnet, nn.dense,
                    nn.nin], counters=counters, init=init):
        u = nn.down_shift(nn.down_shifted_conv2d(x, num_filters=8,
                                                 filter_size=[2, 3]))
        u = nn.gated_resnet(u, conv=nn.down_shifted_conv2d)
        down = nn.down_shifted_conv2d(u, num_filters=8, stride=[2, 2])
        up = nn.down_shifted_deconv2d(down, num_filters=8, stride=[2, 2])
        return nn.nin(tf.nn.elu(u + up), 6)


def test_pixelcnn_towers_with_arg_scope_counters(rng):
    """model.py's arg_scope (one counters dict per call) in every tower:
    tf-slim's arg_scope stack is per tower."""
    batch = rng.uniform(-1, 1, size=(6, 8, 8, 3))
    want, want_out, _ = _init_values(_pixelcnn_model, batch, 0)
    got, got_out, _ = _init_values(_pixelcnn_model, batch, 3)
    for name in want:
        np.testing.assert_allclose(got[name], want[name], rtol=1e-12,
                                   atol=1e-12, err_msg=name)
    np.testing.assert_allclose(got_out, want_out, rtol=1e-10, atol=1e-10)


def test_recurrent_cells_pool_valid_positions(rng):
    """Uneven sequence lengths, one tower with none valid: the counts
    weigh each tower's part."""
    x = rng.normal(size=(6, 5, 3))
    lengths = np.array([5, 2, 0, 0, 3, 1], np.int32)

    def values(towers):
        with tf.Graph().as_default():
            cell = tf1_wn.WeightNormLSTMCell(4, name="lstm")
            tf.set_random_seed(3)
            xs, ls = tf.constant(x), tf.constant(lengths)
            if towers == 0:
                cell.data_init(xs, ls)
            else:
                ops = tf1_wn.build_towers(
                    lambda part: cell.data_init(*part),
                    list(zip(tf.split(xs, towers), tf.split(ls, towers))))
                assert len({op.name for op in ops}) == 1
            with tf.Session() as sess:
                sess.run(tf.global_variables_initializer())
                sess.run(tf1_wn.init_op())
                return _variables(sess)
    want, got = values(0), values(3)
    for name in want:
        np.testing.assert_allclose(got[name], want[name], rtol=1e-12,
                                   atol=1e-12, err_msg=name)
    # float64 NumPy: the input projection over valid positions only
    valid = np.concatenate([x[i, :n] for i, n in enumerate(lengths)])
    v = got["lstm/input/v"]
    t = valid @ (v / np.sqrt((v ** 2).sum(0) + tf1_wn.DEFAULT_EPS))
    t = t * got["lstm/input/g"] + got["lstm/bias"]
    np.testing.assert_allclose(t.mean(0), 0, atol=1e-12)
    # std 1 / sqrt(1 + DATA_INIT_EPS / var)
    np.testing.assert_allclose(t.std(0), 1, rtol=1e-7)


def test_towers_with_different_layers_fail_clearly(graph):
    def tower(x):
        h = tf1_wn.dense(x, 3, init=True, scope="a")
        if x.name.startswith("second"):
            h = tf1_wn.dense(h, 3, init=True, scope="b")
        return h
    with pytest.raises(tf1_wn.Error, match="never reached|finished while"):
        tf1_wn.build_towers(tower, [tf.zeros([2, 3], name="first"),
                                    tf.zeros([2, 3], name="second")])
    with pytest.raises(tf1_wn.Error, match="where tower 0 initializes"):
        tf1_wn.build_towers(
            lambda x: tf1_wn.dense(x, 3, init=True, scope=x.name[:5]),
            [tf.zeros([2, 3], name="alpha"), tf.zeros([2, 3], name="gamma")])


def test_an_error_in_one_tower_reaches_the_caller(graph):
    def tower(x):
        if x.name.startswith("bad"):
            raise KeyError("tower failed")
        return tf1_wn.dense(x, 3, init=True, scope="a")
    with pytest.raises(KeyError, match="tower failed"):
        tf1_wn.build_towers(tower, [tf.zeros([2, 3], name="good"),
                                    tf.zeros([2, 3], name="bad")])


def test_bad_arguments(graph):
    with pytest.raises(TypeError, match="tower_fn"):
        tf1_wn.build_towers(None, [1])
    with pytest.raises(ValueError, match="tower_inputs"):
        tf1_wn.build_towers(lambda x: x, [])
    with pytest.raises(ValueError, match="2 entries for 3 towers"):
        tf1_wn.build_towers(lambda x: x, [1, 2, 3], devices=["/cpu:0"] * 2)
    assert tf1_wn.build_towers(lambda x: x + 1, [1, 2]) == [2, 3]
