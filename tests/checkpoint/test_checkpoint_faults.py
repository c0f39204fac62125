"""The checkpoint tools as an attacker and an unlucky user meet them: glob
characters in names, a symlinked alias of the input, a process killed
between two renames, corrupt and missing shards, a read-only or full disk,
bfloat16 and non-float variables, and conversion in bounded batches."""
import errno
import os
import subprocess
import sys
import textwrap

import numpy as np
import pytest
import tensorflow.compat.v1 as tf

from tf1_wn import checkpoint, cli
from tf1_wn.checkpoint import files
from helpers import directory_digest, save_checkpoint


def _values(prefix):
    contents = files.CheckpointContents(prefix)
    return {name: contents.read(name) for name in contents.variables}


@pytest.fixture
def model(tmp_path, rng):
    prefix = str(tmp_path / "d" / "model.ckpt")
    save_checkpoint(prefix, {
        "fc/kernel": rng.normal(size=(6, 3)).astype(np.float32),
        "fc/bias": rng.normal(size=3).astype(np.float32),
        "conv/kernel": rng.normal(size=(3, 3, 2, 4)).astype(np.float32),
    })
    return prefix


def _cli(argv, capsys):
    status = cli.main(argv)
    captured = capsys.readouterr()
    return status, captured.out, captured.err


# -- paths are literal --------------------------------------------------------

def test_glob_characters_in_the_output_do_not_touch_the_input(model,
                                                              capsys):
    directory = os.path.dirname(model)
    before = directory_digest(directory)
    out = os.path.join(directory, "model.c?pt")
    status, _, err = _cli(["convert", model, out, "--force"], capsys)
    assert status == 0, err
    after = directory_digest(directory)
    for name, digest in before.items():
        if name != "checkpoint":
            assert after[name] == digest, name
    converted = _values(out)
    np.testing.assert_array_equal(converted["fc/v"],
                                  _values(model)["fc/kernel"])


def test_bracket_output_leaves_a_similar_name_alone(model, tmp_path,
                                                    capsys):
    out_dir = tmp_path / "out"
    unrelated = str(out_dir / "model1.ckpt")
    save_checkpoint(unrelated, {"x": np.arange(3.0)})
    before = directory_digest(out_dir)
    status, _, err = _cli(["convert", model, str(out_dir / "model[1].ckpt"),
                           "--force"], capsys)
    assert status == 0, err
    after = directory_digest(out_dir)
    assert {k: v for k, v in after.items() if k.startswith("model1")} == {
        k: v for k, v in before.items() if k.startswith("model1")}
    assert "model[1].ckpt.index" in after
    assert sorted(_values(str(out_dir / "model[1].ckpt"))) == [
        "conv/g", "conv/v", "fc/bias", "fc/g", "fc/v"]


def test_input_with_glob_characters_is_read_literally(tmp_path, rng, capsys):
    prefix = str(tmp_path / "run[3]" / "model.ckpt-[1]")
    kernel = rng.normal(size=(4, 2)).astype(np.float32)
    save_checkpoint(prefix, {"fc/kernel": kernel})
    out = str(tmp_path / "out" / "wn.ckpt")
    status, _, err = _cli(["convert", prefix, out], capsys)
    assert status == 0, err
    np.testing.assert_array_equal(_values(out)["fc/v"], kernel)


@pytest.mark.parametrize("how", ["symlinked directory", "hard link"])
def test_an_alias_of_the_input_is_refused(model, tmp_path, capsys, how):
    directory = os.path.dirname(model)
    if how == "symlinked directory":
        alias = str(tmp_path / "alias")
        os.symlink(directory, alias)
        out = os.path.join(alias, "model.ckpt")
    else:
        other = tmp_path / "linked"
        other.mkdir()
        for path in files.checkpoint_files(model):
            os.link(path, str(other / os.path.basename(path)))
        out = str(other / "model.ckpt")
    before = directory_digest(directory)
    status, _, err = _cli(["convert", model, out, "--force"], capsys)
    assert status == 1
    assert "is the input checkpoint" in err and len(err.splitlines()) == 1
    assert directory_digest(directory) == before


# -- a killed replacement -----------------------------------------------------

KILL = textwrap.dedent("""
    import os, sys
    os.environ["TF_CPP_MIN_LOG_LEVEL"] = "3"
    from tf1_wn import checkpoint
    from tf1_wn.checkpoint import files
    calls = {"n": 0}
    original = files._move

    def dying_move(source, target):
        calls["n"] += 1
        if calls["n"] == int(sys.argv[3]):
            os._exit(9)  # killed between two renames
        original(source, target)

    files._move = dying_move
    checkpoint.fold_checkpoint(sys.argv[1], sys.argv[2], force=True)
    print("finished", calls["n"])
""")


def test_kill_at_every_rename_leaves_old_or_new_never_a_mix(tmp_path, rng):
    """Replacing an output checkpoint moves 2 old files out and 2 new ones
    in; a kill before any of those moves (or the last, the switch) leaves
    the old checkpoint after recovery, a kill after it the new one, and no
    temporary directory survives the next write."""
    wn = str(tmp_path / "wn" / "model.ckpt")
    save_checkpoint(wn, {"fc/v": rng.normal(size=(5, 3)),
                         "fc/g": rng.uniform(1, 2, size=3)})
    out = str(tmp_path / "out" / "plain.ckpt")
    old = {"fc/kernel": np.ones((5, 3)), "fc/old": np.zeros(2)}
    new = checkpoint.fold_checkpoint(wn, str(tmp_path / "ref" / "p.ckpt"))
    new_values = _values(new.output)
    for kill_at in range(1, 6):
        save_checkpoint(out, old)
        result = subprocess.run(
            [sys.executable, "-c", KILL, wn, out, str(kill_at)],
            capture_output=True, text=True, timeout=120)
        if result.returncode == 0:
            assert kill_at == 5 and "finished 4" in result.stdout
        else:
            assert result.returncode == 9, result.stderr[-2000:]
            # Until recovery the prefix is the old checkpoint, the new one,
            # or absent: never an index beside foreign data.
            if os.path.exists(out + ".index"):
                assert sorted(_values(out)) in (sorted(old),
                                                sorted(new_values))
        files.clean_stale(os.path.dirname(out))
        assert not [n for n in os.listdir(os.path.dirname(out))
                    if n.startswith(files.TEMP_PREFIX)]
        got = _values(out)
        want = old if kill_at <= 4 else new_values
        assert sorted(got) == sorted(want), kill_at
        for name in want:
            np.testing.assert_array_equal(got[name], want[name])
        for path in files.checkpoint_files(out):
            os.remove(path)


# -- corrupt input, unwritable output -----------------------------------------

def _data_file(prefix):
    return [p for p in files.checkpoint_files(prefix) if ".data-" in p][0]


@pytest.mark.parametrize("damage", ["truncate", "flip", "remove"])
def test_damaged_data_shard_is_one_line_and_exit_1(model, tmp_path, capsys,
                                                   damage):
    data = _data_file(model)
    if damage == "remove":
        os.remove(data)
    else:
        with open(data, "r+b") as f:
            if damage == "truncate":
                f.truncate(os.path.getsize(data) // 2)
            else:
                f.seek(20)
                byte = f.read(1)
                f.seek(20)
                f.write(bytes([byte[0] ^ 0xFF]))
    out = str(tmp_path / "out" / "wn.ckpt")
    status, _, err = _cli(["convert", model, out], capsys)
    assert status == 1
    assert err.startswith("tf1-wn: error: checkpoint ") and "model.ckpt" \
        in err
    assert len(err.splitlines()) == 1, err
    assert files.checkpoint_files(out) == []
    with pytest.raises(Exception):
        cli.main(["convert", model, out, "--debug"])


def test_read_only_filesystem_is_one_line(model, capsys):
    status, _, err = _cli(["convert", model, "/proc/tf1-wn/out.ckpt"],
                          capsys)
    assert status == 1
    assert err.startswith("tf1-wn: error: cannot write '/proc/tf1-wn/")
    assert len(err.splitlines()) == 1


def test_full_disk_keeps_the_previous_output(model, tmp_path, capsys,
                                             monkeypatch):
    out = str(tmp_path / "out" / "wn.ckpt")
    assert cli.main(["convert", model, out]) == 0
    before = directory_digest(tmp_path / "out")

    def no_space(prefix, tensors):
        raise OSError(errno.ENOSPC, "No space left on device", prefix)

    monkeypatch.setattr(files, "_save_batch", no_space)
    capsys.readouterr()
    status, _, err = _cli(["convert", model, out, "--force"], capsys)
    assert status == 1
    assert "no space left on the device" in err
    assert "previous files (if any) are unchanged" in err
    assert directory_digest(tmp_path / "out") == before


# -- dtypes -------------------------------------------------------------------

def test_bfloat16_kernels_are_converted(tmp_path, rng):
    prefix = str(tmp_path / "bf16.ckpt")
    kernel64 = rng.normal(size=(4, 3))
    with tf.Graph().as_default():
        var = tf.Variable(tf.cast(kernel64, tf.bfloat16), name="fc/kernel")
        with tf.Session() as sess:
            sess.run(var.initializer)
            tf.train.Saver([var]).save(sess, prefix, write_meta_graph=False)
            stored = sess.run(tf.cast(var, tf.float64))
    plan = checkpoint.convert_checkpoint(prefix, str(tmp_path / "out.ckpt"))
    assert [s.action for s in plan.steps] == ["convert"]
    values = _values(plan.output)
    assert values["fc/g"].dtype.name == "bfloat16"
    np.testing.assert_allclose(values["fc/g"].astype(np.float64),
                               np.linalg.norm(stored, axis=0), rtol=1e-2)


def test_inspect_names_non_float_variables_honestly(tmp_path):
    prefix = str(tmp_path / "m.ckpt")
    with tf.Graph().as_default():
        variables = [tf.Variable(np.zeros((3, 4), np.int64),
                                 name="table/kernel"),
                     tf.Variable("hello", name="vocab/name")]
        with tf.Session() as sess:
            sess.run(tf.global_variables_initializer())
            tf.train.Saver(variables).save(sess, prefix,
                                           write_meta_graph=False)
    groups = {g.scope: g for g in checkpoint.inspect_checkpoint(prefix)}
    assert groups["table"].kind == "other"
    assert groups["table"].entries[0].dtype == "int64"
    assert groups["vocab"].entries[0].dtype == "string"
    with pytest.raises(checkpoint.CheckpointError, match="nothing to "
                       "convert.*Nothing was written"):
        checkpoint.convert_checkpoint(prefix, str(tmp_path / "o.ckpt"))
    assert not os.path.exists(tmp_path / "o.ckpt.index")
    plan = checkpoint.convert_checkpoint(prefix, str(tmp_path / "o.ckpt"),
                                         allow_unchanged=True)
    assert [s.action for s in plan.steps] == ["copy", "copy"]


# -- bounded batches ----------------------------------------------------------

def test_conversion_in_small_batches_equals_one_batch(model, tmp_path,
                                                      monkeypatch):
    whole = checkpoint.convert_checkpoint(model, str(tmp_path / "a.ckpt"))
    monkeypatch.setattr(checkpoint.plan.Plan.batches, "__defaults__", (1,))
    small = checkpoint.convert_checkpoint(model, str(tmp_path / "b.ckpt"))
    shards = [p for p in files.checkpoint_files(small.output)
              if ".data-" in p]
    assert len(shards) > 1  # one SaveV2 part per batch, merged
    a, b = _values(whole.output), _values(small.output)
    assert sorted(a) == sorted(b)
    for name in a:
        np.testing.assert_array_equal(a[name], b[name])
