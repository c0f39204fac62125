"""Kernel layouts come from evidence, never from a silent guess: the .meta
graph Saver writes beside the checkpoint, then the bias (convert) or g
(fold), then the names; conflicting or missing evidence is refused with a
message naming the variable and --layout."""
import os

import numpy as np
import pytest
import tensorflow.compat.v1 as tf
import tf_slim as slim

import reference as ref
import tf1_wn
from tf1_wn import checkpoint
from tf1_wn.checkpoint import AmbiguousLayoutError


def _train_and_save(prefix, build, rng, meta=True):
    """Builds `build(x)` as a training graph (with Adam, so the gradient of
    each conv is in the graph too), saves it; returns (x value, output)."""
    x_value = rng.normal(size=(2, 4, 4, 4)).astype(np.float32)
    with tf.Graph().as_default():
        x = tf.placeholder(tf.float32, [None, 4, 4, 4], name="x")
        out = build(x)
        tf.train.AdamOptimizer().minimize(tf.reduce_sum(out ** 2))
        with tf.Session() as sess:
            sess.run(tf.global_variables_initializer())
            for var in tf.trainable_variables():
                var.load(rng.normal(size=var.shape.as_list()), sess)
            got = sess.run(out, {x: x_value})
            tf.train.Saver().save(sess, prefix, write_meta_graph=meta)
    return x_value, got


def _slim_up(x):
    # tf-slim conv2d_transpose, in == out channels, under a scope named
    # "up": the names say nothing and the bias fits both layouts.
    return slim.conv2d_transpose(x, 4, 3, stride=2, activation_fn=None,
                                 scope="up")


def _slim_conv(x):
    return slim.conv2d(x, 4, 3, activation_fn=None, scope="up")


def _converted(tmp_path, source, **kwargs):
    out = str(tmp_path / "wn" / "model.ckpt")
    with pytest.warns(checkpoint.CheckpointWarning):  # Adam slots dropped
        plan = checkpoint.convert(source, out, **kwargs)
    return out, {s.sources[0]: s.kind for s in plan.steps
                 if s.action == "convert"}


def test_meta_graph_settles_a_square_transposed_kernel(tmp_path, rng):
    """The issue's case: g comes out per OUTPUT channel, and a tf1-wn
    conv2d_transpose under the same scope restores the result and
    computes the slim model's output."""
    source = str(tmp_path / "plain" / "model.ckpt")
    x_value, want = _train_and_save(source, _slim_up, rng)
    out, kinds = _converted(tmp_path, source)
    assert kinds == {"up/weights": "conv2d_transpose"}
    reader = tf.train.load_checkpoint(out)
    kernel = tf.train.load_checkpoint(source).get_tensor("up/weights")
    np.testing.assert_allclose(
        reader.get_tensor("up/g"),
        np.sqrt((kernel.astype(np.float64) ** 2).sum(axis=(0, 1, 3))),
        rtol=1e-6)
    with tf.Graph().as_default():
        y = tf1_wn.conv2d_transpose(tf.constant(x_value), 4, 3, strides=2,
                                    scope="up")
        with tf.Session() as sess:
            tf.train.Saver().restore(sess, out)
            got = sess.run(y)
    np.testing.assert_allclose(got, want, rtol=1e-4, atol=1e-5)


def test_meta_graph_sees_past_the_gradients_of_a_forward_conv(tmp_path,
                                                              rng):
    """A forward conv's kernel also feeds Conv2DBackpropInput in the
    gradient: the forward op (Conv2D) is the one that counts."""
    source = str(tmp_path / "plain" / "model.ckpt")
    _train_and_save(source, _slim_conv, rng)
    _, kinds = _converted(tmp_path, source)
    assert kinds == {"up/weights": "conv2d"}
    groups = checkpoint.inspect(source)
    assert [(g.scope, g.layout) for g in groups if g.kind == "plain"] == [
        ("up", "conv2d")]


def test_without_meta_a_square_kernel_is_refused(tmp_path, rng):
    source = str(tmp_path / "plain" / "model.ckpt")
    _train_and_save(source, _slim_up, rng, meta=False)
    with pytest.raises(AmbiguousLayoutError, match=r"'up/weights' .*nothing "
                       r"tells its layout.*--layout 'up/weights="):
        checkpoint.convert(source, str(tmp_path / "wn" / "model.ckpt"))
    assert not os.path.exists(tmp_path / "wn")
    _, kinds = _converted(tmp_path, source,
                          layouts={"^up/": "conv2d_transpose"})
    assert kinds == {"up/weights": "conv2d_transpose"}


def test_without_meta_the_bias_settles_a_non_square_kernel(tmp_path, rng):
    source = str(tmp_path / "plain" / "model.ckpt")

    def build(x):  # [3, 3, 6, 4] kernel, 6 biases: only a transpose fits
        return slim.conv2d_transpose(x, 6, 3, activation_fn=None,
                                     scope="up")
    _train_and_save(source, build, rng, meta=False)
    _, kinds = _converted(tmp_path, source)
    assert kinds == {"up/weights": "conv2d_transpose"}


def test_meta_graph_and_names_disagreeing_is_refused(tmp_path, rng):
    source = str(tmp_path / "plain" / "model.ckpt")

    def build(x):  # a forward conv under a scope that says "deconv"
        return slim.conv2d(x, 4, 3, activation_fn=None, scope="deconv")
    _train_and_save(source, build, rng)
    with pytest.raises(AmbiguousLayoutError, match="the evidence disagrees: "
                       r"the graph .* says conv2d; its name .* says "
                       "conv2d_transpose"):
        checkpoint.convert(source, str(tmp_path / "wn" / "model.ckpt"))


def test_depthwise_kernel_named_weights_needs_evidence(tmp_path, rng):
    """[3, 3, 4, 1] with 4 biases fits a depthwise and a transposed conv:
    the graph tells (DepthwiseConv2dNative); without it, refused."""
    def build(x):
        with tf.variable_scope("dw"):
            w = tf.get_variable("weights", [3, 3, 4, 1])
            b = tf.get_variable("biases", [4])
        return tf.nn.depthwise_conv2d(x, w, [1, 1, 1, 1], "SAME") + b
    source = str(tmp_path / "plain" / "model.ckpt")
    _train_and_save(source, build, rng)
    _, kinds = _converted(tmp_path, source)
    assert kinds == {"dw/weights": "depthwise_conv2d"}
    os.remove(source + ".meta")
    with pytest.raises(AmbiguousLayoutError, match="nothing tells"):
        checkpoint.convert(source, str(tmp_path / "wn2" / "model.ckpt"))


def test_fold_reads_the_meta_graph_of_a_weight_normalized_model(tmp_path,
                                                                rng):
    """fold: g fits both layouts of a square v under "up"; the WN graph's
    op (through the norm arithmetic) says transposed."""
    source = str(tmp_path / "wn" / "model.ckpt")
    x_value, want = _train_and_save(
        source, lambda x: tf1_wn.conv2d_transpose(x, 4, 3, scope="up"), rng)
    out = str(tmp_path / "plain" / "model.ckpt")
    with pytest.warns(checkpoint.CheckpointWarning):
        plan = checkpoint.fold(source, out)
    assert [s.kind for s in plan.steps if s.action == "fold"] == [
        "conv2d_transpose"]
    reader = tf.train.load_checkpoint(source)
    v, g = reader.get_tensor("up/v"), reader.get_tensor("up/g")
    np.testing.assert_allclose(
        tf.train.load_checkpoint(out).get_tensor("up/kernel"),
        ref.weight_norm(v.astype(np.float64), g, [0, 1, 3], eps=1e-12),
        rtol=1e-5)
    os.remove(source + ".meta")
    with pytest.raises(AmbiguousLayoutError, match="'up/v'"):
        checkpoint.fold(source, str(tmp_path / "plain2" / "model.ckpt"))


def test_corrupt_meta_is_an_error_not_a_guess(tmp_path, rng):
    source = str(tmp_path / "plain" / "model.ckpt")
    _train_and_save(source, _slim_conv, rng)
    with open(source + ".meta", "wb") as f:
        f.write(b"\x00not a graph")
    with pytest.raises(checkpoint.CheckpointError, match="cannot read the "
                       "graph .*model.ckpt.meta"):
        checkpoint.convert(source, str(tmp_path / "wn" / "model.ckpt"))


def test_verify_reports_every_layer_and_catches_a_wrong_hint(tmp_path, rng):
    """--verify runs the .meta graph with both sets of weights: a
    faithful conversion differs by rounding only; a layout hint that
    contradicts the graph gives a wrong model, and verify says so."""
    def build(x):
        h = slim.conv2d(x, 4, 3, scope="conv1")
        h = slim.conv2d_transpose(h, 4, 3, stride=2, scope="up")
        return slim.fully_connected(tf.reshape(h, [-1, 256]), 3,
                                    activation_fn=None, scope="fc")
    source = str(tmp_path / "plain" / "model.ckpt")
    _train_and_save(source, build, rng)
    out = str(tmp_path / "wn" / "model.ckpt")
    with pytest.warns(checkpoint.CheckpointWarning):
        plan = checkpoint.convert(source, out, verify=True)
    ops = {d.op: d for d in plan.verification}
    assert sorted(ops) == ["conv1/Conv2D", "fc/MatMul",
                           "up/conv2d_transpose"]
    assert all(d.relative < 1e-5 for d in ops.values()), ops
    with pytest.warns(checkpoint.CheckpointWarning), \
            pytest.raises(checkpoint.CheckpointError,
                          match="differs from the original: fc/MatMul "
                          r"by .*; up/conv2d_transpose by") as caught:
        checkpoint.convert(source, str(tmp_path / "bad" / "model.ckpt"),
                           layouts={"^up/": "conv2d"}, verify=True)
    assert "conv1/Conv2D" not in str(caught.value)  # upstream: unchanged


def test_verify_command_line(tmp_path, rng, capsys):
    from tf1_wn import cli
    source = str(tmp_path / "plain" / "model.ckpt")
    _train_and_save(source, _slim_up, rng)
    out = str(tmp_path / "wn" / "model.ckpt")
    assert cli.main(["convert", source, out, "--verify"]) == 0
    printed = capsys.readouterr().out
    assert "verify up/conv2d_transpose" in printed
    os.remove(source + ".meta")
    assert cli.main(["convert", source, str(tmp_path / "x" / "m.ckpt"),
                     "--verify", "--layout", "up/=conv2d_transpose"]) == 1
    assert "--verify needs the graph" in capsys.readouterr().err
