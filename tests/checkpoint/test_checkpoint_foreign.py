"""convert --from pixelcnn|tfa: checkpoints of pixel-cnn's nn.py and of TF
Addons' WeightNormalization wrapper, written here from their formulas and
variable names, become tf1-wn checkpoints whose layers compute the same
outputs."""
import numpy as np
import pytest
import tensorflow.compat.v1 as tf

import tf1_wn
from tf1_wn import checkpoint, cli
from helpers import save_checkpoint


def _pixelcnn_forward(x, p):
    """pixel-cnn's dense (no eps), conv2d and deconv2d (l2_normalize)."""
    h = tf.nn.conv2d(x, p["model/conv2d_0/g"] * tf.nn.l2_normalize(
        p["model/conv2d_0/V"], [0, 1, 2]), [1, 1, 1, 1], "SAME")
    h = tf.nn.elu(h + p["model/conv2d_0/b"])
    w = p["model/deconv2d_0/g"][:, None] * tf.nn.l2_normalize(
        p["model/deconv2d_0/V"], [0, 1, 3])
    h = tf.nn.conv2d_transpose(h, w, [2, 8, 8, 3], [1, 2, 2, 1], "SAME")
    h = tf.reshape(h + p["model/deconv2d_0/b"], [2, -1])
    v = p["model/dense_0/V"]
    scale = p["model/dense_0/g"] / tf.sqrt(tf.reduce_sum(tf.square(v), 0))
    return tf.matmul(h, v) * scale + p["model/dense_0/b"]


def _tf1_wn_forward(x):
    with tf.variable_scope("model"):
        h = tf1_wn.conv2d(x, 5, 3, activation=tf.nn.elu, scope="conv2d_0")
        h = tf1_wn.conv2d_transpose(h, 3, 3, strides=2, scope="deconv2d_0")
        return tf1_wn.dense(tf.reshape(h, [2, -1]), 7, scope="dense_0")


def _restored_output(prefix, x_value):
    with tf.Graph().as_default():
        out = _tf1_wn_forward(tf.constant(x_value))
        with tf.Session() as sess:
            tf.train.Saver().restore(sess, prefix)
            return sess.run(out)


def test_pixelcnn_checkpoint_renames_and_outputs_agree(tmp_path, rng):
    values = {
        "model/conv2d_0/V": rng.normal(size=(3, 3, 2, 5)),
        "model/conv2d_0/g": rng.uniform(0.5, 2, 5),
        "model/conv2d_0/b": rng.normal(size=5),
        "model/deconv2d_0/V": rng.normal(size=(3, 3, 3, 5)),
        "model/deconv2d_0/g": rng.uniform(0.5, 2, 3),
        "model/deconv2d_0/b": rng.normal(size=3),
        "model/dense_0/V": rng.normal(size=(192, 7)),
        "model/dense_0/g": rng.uniform(0.5, 2, 7),
        "model/dense_0/b": rng.normal(size=7),
    }
    values = {k: v.astype(np.float32) for k, v in values.items()}
    values["model/dense_0/V/ExponentialMovingAverage"] = \
        values["model/dense_0/V"] * 0.5
    source = str(tmp_path / "pcnn" / "model.ckpt")
    save_checkpoint(source, values)
    x_value = rng.normal(size=(2, 4, 4, 2)).astype(np.float32)
    with tf.Graph().as_default():
        want = tf.Session().run(_pixelcnn_forward(
            tf.constant(x_value), {k: tf.constant(v)
                                   for k, v in values.items()}))
    out = str(tmp_path / "wn" / "model.ckpt")
    assert cli.main(["convert", source, out, "--from", "pixelcnn"]) == 0
    names = sorted(tf.train.load_checkpoint(out)
                   .get_variable_to_shape_map())
    assert names == sorted(
        [f"model/{layer}/{var}" for layer in ("conv2d_0", "deconv2d_0",
                                              "dense_0")
         for var in ("v", "g", "bias")]
        + ["model/dense_0/v/ExponentialMovingAverage"])
    # eps: pixel-cnn's l2_normalize floors sum(v**2) at 1e-12 and its dense
    # has none; tf1-wn adds 1e-12: a relative 5e-13 / sum(v**2) here.
    np.testing.assert_allclose(_restored_output(out, x_value), want,
                               rtol=2e-5, atol=2e-5)


def _tfa_weight(kernel, g):
    norm = np.sqrt(np.maximum(
        (kernel.astype(np.float64) ** 2).sum(axis=tuple(range(
            kernel.ndim - 1))), 1e-12))
    return kernel * (g / norm)


def test_tfa_checkpoint_transposed_kernel_goes_per_output_channel(tmp_path,
                                                                  rng):
    """TF Addons keeps g per last kernel axis: the input channel of a
    Conv2DTranspose.  The converted v, g (per output channel) compute the
    wrapper's weight; the dense layer is a rename; the initialized flag
    and the data-init clone are dropped."""
    up_kernel = rng.normal(size=(3, 3, 4, 6)).astype(np.float32)
    up_g = rng.uniform(0.5, 2, 6).astype(np.float32)
    values = {
        "wn_up/conv2d_transpose/kernel": up_kernel,
        "wn_up/conv2d_transpose/bias": rng.normal(size=4).astype(np.float32),
        "wn_up/g": up_g,
        "wn_up/initialized": np.array(True),
        "wn_up/data_dep_init/conv2d_transpose/kernel": up_kernel * 0,
        "wn_fc/dense/kernel": rng.normal(size=(5, 3)).astype(np.float32),
        "wn_fc/dense/bias": rng.normal(size=3).astype(np.float32),
        "wn_fc/g": rng.uniform(0.5, 2, 3).astype(np.float32),
        "wn_fc/dense/kernel/Adam": np.ones((5, 3), np.float32),
    }
    source = str(tmp_path / "tfa" / "model.ckpt")
    save_checkpoint(source, values)
    out = str(tmp_path / "wn" / "model.ckpt")
    with pytest.warns(checkpoint.CheckpointWarning):
        plan = checkpoint.convert(source, out, from_format="tfa")
    kinds = {s.sources[0]: (s.action, s.kind) for s in plan.steps
             if s.action in ("convert", "rename")}
    assert kinds["wn_up/conv2d_transpose/kernel"] == ("convert",
                                                      "conv2d_transpose")
    assert kinds["wn_fc/dense/kernel"] == ("rename", None)
    reader = tf.train.load_checkpoint(out)
    assert sorted(reader.get_variable_to_shape_map()) == [
        "wn_fc/bias", "wn_fc/g", "wn_fc/v", "wn_fc/v/Adam",
        "wn_up/bias", "wn_up/g", "wn_up/v"]
    x = rng.normal(size=(2, 3, 3, 6)).astype(np.float32)
    h = rng.normal(size=(2, 5)).astype(np.float32)
    with tf.Graph().as_default():
        up = tf1_wn.conv2d_transpose(tf.constant(x), 4, 3, strides=2,
                                     scope="wn_up")
        fc = tf1_wn.dense(tf.constant(h), 3, scope="wn_fc")
        want_up = tf.nn.conv2d_transpose(
            x, _tfa_weight(up_kernel, up_g).astype(np.float32),
            [2, 6, 6, 4], [1, 2, 2, 1], "SAME") + values[
                "wn_up/conv2d_transpose/bias"]
        with tf.Session() as sess:
            tf.train.Saver().restore(sess, out)
            got_up, got_fc, want_up = sess.run([up, fc, want_up])
    np.testing.assert_allclose(got_up, want_up, rtol=1e-4, atol=1e-5)
    want_fc = h @ _tfa_weight(values["wn_fc/dense/kernel"],
                              values["wn_fc/g"]) + values["wn_fc/dense/bias"]
    np.testing.assert_allclose(got_fc, want_fc, rtol=1e-4, atol=1e-5)


def test_tfa_kernel_with_nothing_telling_its_layout_is_refused(tmp_path,
                                                               rng):
    source = str(tmp_path / "tfa" / "model.ckpt")
    save_checkpoint(source, {
        "wn/kernel": rng.normal(size=(3, 3, 4, 4)).astype(np.float32),
        "wn/g": np.ones(4, np.float32)})
    with pytest.raises(checkpoint.AmbiguousLayoutError, match="'wn/kernel'"):
        checkpoint.convert(source, str(tmp_path / "o" / "m.ckpt"),
                           from_format="tfa")
    plan = checkpoint.convert(source, str(tmp_path / "o" / "m.ckpt"),
                              from_format="tfa", layouts={"^wn/": "conv2d"})
    assert [s.action for s in plan.steps] == ["rename", "copy"]


def test_unknown_format_and_verify_combination(tmp_path, rng):
    source = str(tmp_path / "tfa" / "model.ckpt")
    save_checkpoint(source, {"wn/kernel": np.ones((2, 2), np.float32)})
    with pytest.raises(checkpoint.CheckpointError, match="one of tfa, "
                       "pixelcnn; got 'keras'"):
        checkpoint.convert(source, str(tmp_path / "o"), from_format="keras")
    with pytest.raises(checkpoint.CheckpointError, match="not with "
                       "from_format='tfa'"):
        checkpoint.convert(source, str(tmp_path / "o"), from_format="tfa",
                           verify=True)


def test_pixelcnn_checkpoint_is_inspected_and_folded(tmp_path, rng):
    """inspect lists pixel-cnn layers as weight-normalized (not "other");
    fold turns V, g, b into the plain kernel (deconv2d normalized over axes
    0, 1, 3) and bias."""
    v = rng.normal(size=(3, 3, 3, 5)).astype(np.float32)
    g = rng.uniform(0.5, 2, 3).astype(np.float32)
    source = str(tmp_path / "pcnn" / "model.ckpt")
    save_checkpoint(source, {
        "model/deconv2d_0/V": v, "model/deconv2d_0/g": g,
        "model/deconv2d_0/b": np.zeros(3, np.float32),
        "model/dense_0/V": rng.normal(size=(4, 2)).astype(np.float32),
        "model/dense_0/g": np.ones(2, np.float32),
        "model/dense_0/b": np.zeros(2, np.float32)})
    groups = {g_.scope: g_ for g_ in checkpoint.inspect(source)}
    assert (groups["model/deconv2d_0"].kind,
            groups["model/deconv2d_0"].layout) == ("weight-normalized",
                                                   "conv2d_transpose")
    assert groups["model/dense_0"].layout == "dense"
    assert {e.role for e in groups["model/dense_0"].entries} == {"V", "g",
                                                                 "b"}
    out = str(tmp_path / "plain" / "model.ckpt")
    checkpoint.fold(source, out)
    reader = tf.train.load_checkpoint(out)
    assert sorted(reader.get_variable_to_shape_map()) == [
        "model/deconv2d_0/bias", "model/deconv2d_0/kernel",
        "model/dense_0/bias", "model/dense_0/kernel"]
    norm = np.sqrt((v.astype(np.float64) ** 2).sum(axis=(0, 1, 3),
                                                   keepdims=True))
    np.testing.assert_allclose(reader.get_tensor("model/deconv2d_0/kernel"),
                               g[None, None, :, None] * v / norm, rtol=1e-5)


def test_nothing_to_do_writes_nothing_and_says_why(tmp_path, rng, capsys):
    """A pixel-cnn checkpoint given to plain convert used to print "nothing
    to convert", exit 0 and write a copy."""
    source = str(tmp_path / "pcnn" / "model.ckpt")
    save_checkpoint(source, {"m/dense_0/V": np.ones((2, 2), np.float32),
                             "m/dense_0/g": np.ones(2, np.float32)})
    out = str(tmp_path / "o" / "model.ckpt")
    assert cli.main(["convert", source, out]) == 1
    err = capsys.readouterr().err
    assert "nothing to convert" in err and "--from pixelcnn" in err
    assert not (tmp_path / "o").exists()
    assert cli.main(["convert", source, out, "--allow-unchanged"]) == 0
    assert tf.train.load_checkpoint(out).get_tensor("m/dense_0/V").sum() == 4
