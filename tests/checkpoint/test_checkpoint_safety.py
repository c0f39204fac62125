"""Error paths and file safety of convert/fold: missing input, existing
output, --force, the input left untouched, no temporary files left."""
import os

import numpy as np
import pytest
import tensorflow.compat.v1 as tf

from tf1_wn import checkpoint
from helpers import directory_digest, save_checkpoint


@pytest.fixture
def plain(tmp_path, rng):
    prefix = str(tmp_path / "in" / "model.ckpt-7")
    save_checkpoint(prefix, {
        "fc/kernel": rng.normal(size=(4, 3)).astype(np.float32),
        "fc/bias": rng.normal(size=3).astype(np.float32),
        "fc/kernel/Momentum": rng.normal(size=(4, 3)).astype(np.float32),
        "global_step": np.int64(7),
    })
    return prefix


def test_missing_checkpoint(tmp_path):
    missing = str(tmp_path / "nope.ckpt")
    with pytest.raises(checkpoint.CheckpointNotFoundError, match="nope.ckpt"):
        checkpoint.convert_checkpoint(missing, str(tmp_path / "out"))
    with pytest.raises(checkpoint.CheckpointNotFoundError,
                       match="state file"):
        checkpoint.inspect_checkpoint(str(tmp_path))
    assert isinstance(checkpoint.CheckpointNotFoundError("x"),
                      FileNotFoundError)


def test_directory_input_and_output(plain, tmp_path):
    out_dir = tmp_path / "out"
    out_dir.mkdir()
    plan = checkpoint.convert_checkpoint(str(tmp_path / "in"), str(out_dir),
                                         keep_slots=True)
    assert plan.output == str(out_dir / "model.ckpt-7")
    # a state file is written into a directory that has none
    assert tf.train.latest_checkpoint(str(out_dir)) == plan.output
    reader = tf.train.load_checkpoint(plan.output)
    assert sorted(reader.get_variable_to_shape_map()) == [
        "fc/bias", "fc/g", "fc/kernel/Momentum", "fc/v", "global_step"]
    assert reader.get_tensor("global_step") == 7


def test_output_never_overwritten_without_force(plain, tmp_path):
    in_digest = directory_digest(tmp_path / "in")
    out = str(tmp_path / "out" / "wn.ckpt")
    checkpoint.convert_checkpoint(plain, out, keep_slots=True)
    out_digest = directory_digest(tmp_path / "out")
    with pytest.raises(checkpoint.OutputExistsError, match="--force"):
        checkpoint.convert_checkpoint(plain, out, keep_slots=True)
    assert directory_digest(tmp_path / "out") == out_digest
    # --force replaces the checkpoint but leaves the existing state file
    with open(tmp_path / "out" / "checkpoint", "w") as f:
        f.write('model_checkpoint_path: "other"\n')
    checkpoint.convert_checkpoint(plain, out, exclude="fc", force=True,
                                  allow_unchanged=True)
    reader = tf.train.load_checkpoint(out)
    assert "fc/kernel" in reader.get_variable_to_shape_map()
    with open(tmp_path / "out" / "checkpoint") as f:
        assert "other" in f.read()
    # the input is never touched, and no temporary directory remains
    assert directory_digest(tmp_path / "in") == in_digest
    assert not [n for n in os.listdir(tmp_path / "out") if "tmp" in n]
    with pytest.raises(checkpoint.CheckpointError, match="eps .* -1.0"):
        checkpoint.fold_checkpoint(plain, out + "2", eps=-1.0)
    with pytest.raises(checkpoint.CheckpointError, match="is the input"):
        checkpoint.convert_checkpoint(plain, plain, force=True)


def test_dry_run_reads_and_writes_nothing(plain, tmp_path):
    out = tmp_path / "dry"
    with pytest.warns(checkpoint.CheckpointWarning,
                      match="fc/kernel/Momentum"):
        plan = checkpoint.convert_checkpoint(plain, str(out / "x.ckpt"),
                                             dry_run=True)
    assert not out.exists()
    assert plan.written == []
    assert [s.action for s in plan.changed] == ["convert", "drop"]


def test_collision_and_ambiguity_from_files(tmp_path, rng):
    prefix = str(tmp_path / "bad.ckpt")
    save_checkpoint(prefix, {
        "fc/kernel": rng.normal(size=(4, 3)),
        "fc/v": rng.normal(size=(4, 3)),
        "up/depthwise/kernel": rng.normal(size=(3, 3, 2, 2))})
    with pytest.raises(checkpoint.NameCollisionError, match="'fc/v'"):
        checkpoint.convert_checkpoint(prefix, str(tmp_path / "o"),
                                      exclude="depthwise")
    with pytest.raises(checkpoint.AmbiguousLayoutError,
                       match="up/depthwise/kernel"):
        checkpoint.convert_checkpoint(prefix, str(tmp_path / "o"),
                                      exclude="^fc/")
    plan = checkpoint.convert_checkpoint(
        prefix, str(tmp_path / "o"), exclude="^fc/",
        layouts={"up/depthwise": "depthwise_conv2d"})
    assert plan.changed[0].kind == "depthwise_conv2d"
    assert not os.path.exists(str(tmp_path / "o.index")) or plan.written


def test_ws_fold_and_ema_from_files(tmp_path, rng):
    kernel = rng.normal(0.2, 0.1, size=(3, 3, 2, 4))
    gain = rng.uniform(0.5, 2.0, size=4)
    prefix = str(tmp_path / "ws.ckpt")
    save_checkpoint(prefix, {"ws/kernel": kernel, "ws/gain": gain,
                             "ws/bias": rng.normal(size=4)})
    with pytest.raises(checkpoint.CheckpointError, match="--variant"):
        checkpoint.fold_checkpoint(prefix, str(tmp_path / "f.ckpt"))
    plan = checkpoint.fold_checkpoint(prefix, str(tmp_path / "f.ckpt"),
                                      ws_variant="timm")
    got = tf.train.load_checkpoint(plan.output).get_tensor("ws/kernel")
    mean = kernel.mean(axis=(0, 1, 2))
    var = kernel.var(axis=(0, 1, 2))
    np.testing.assert_allclose(got, gain * (kernel - mean)
                               / np.sqrt(var + 1e-6), rtol=1e-12)


def test_assign_from_kernel_and_folded_kernel(graph, rng):
    kernel = rng.normal(size=(3, 3, 5, 4)).astype(np.float32)  # transposed
    v = tf.get_variable("v", [3, 3, 5, 4])
    g = tf.get_variable("g", [5])
    assign = checkpoint.assign_from_kernel(v, g, kernel, "conv2d_transpose")
    folded = checkpoint.folded_kernel(v, g, "conv2d_transpose")
    with pytest.raises(ValueError, match="g of shape"):
        checkpoint.assign_from_kernel(v, g, kernel)  # conv2d: g needs 4
    xv = tf.get_variable("xv", [3, 8])
    xg = tf.get_variable("xg", [8])
    hv = tf.get_variable("hv", [2, 8])
    hg = tf.get_variable("hg", [8])
    cell_kernel = rng.normal(size=(5, 8))
    cell_assign = checkpoint.assign_cell_from_kernel(xv, xg, hv, hg,
                                                     cell_kernel)
    cell_folded = checkpoint.folded_cell_kernel(xv, xg, hv, hg)
    with tf.Session() as session:
        session.run(tf.global_variables_initializer())
        session.run([assign, cell_assign])
        np.testing.assert_allclose(session.run(v), kernel)
        np.testing.assert_allclose(
            session.run(g), np.sqrt((kernel.astype(np.float64) ** 2).sum(
                axis=(0, 1, 3))), rtol=1e-6)
        np.testing.assert_allclose(session.run(folded), kernel, rtol=1e-5,
                                   atol=1e-6)
        np.testing.assert_allclose(session.run(xg), np.linalg.norm(
            cell_kernel[:3], axis=0), rtol=1e-6)
        np.testing.assert_allclose(session.run(cell_folded), cell_kernel,
                                   rtol=1e-5, atol=1e-6)
