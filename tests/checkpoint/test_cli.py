"""The tf1-wn command line: in-process through `main(argv)` for the exit
codes and output, and as real subprocesses (console script and -m)."""
import os
import subprocess
import sys

import numpy as np
import pytest
import tensorflow.compat.v1 as tf

from tf1_wn import cli
from helpers import run_python, save_checkpoint

VENV_BIN = os.path.dirname(sys.executable)


@pytest.fixture
def ckpt(tmp_path, rng):
    prefix = str(tmp_path / "plain.ckpt")
    save_checkpoint(prefix, {
        "conv/weights": rng.normal(size=(3, 3, 2, 4)).astype(np.float32),
        "conv/biases": rng.normal(size=4).astype(np.float32),
        "conv/weights/Adam": rng.normal(size=(3, 3, 2, 4)).astype(np.float32),
        "up/conv2d_transpose/kernel": rng.normal(size=(3, 3, 5, 4)),
        "rnn/basic_lstm_cell/kernel": rng.normal(size=(7, 16)),
        "rnn/basic_lstm_cell/bias": rng.normal(size=16),
        "global_step": np.int64(3),
    })
    return prefix


def test_inspect_table_and_json(ckpt, capsys):
    assert cli.main(["inspect", ckpt]) == 0
    out = capsys.readouterr().out
    assert "conv  --  plain [conv2d]" in out
    assert "up/conv2d_transpose  --  plain [conv2d_transpose]" in out
    assert "rnn/basic_lstm_cell  --  TF1 cell [lstm_cell]" in out
    assert "slot of weights" in out
    assert cli.main(["inspect", "--json", ckpt]) == 0
    assert '"kind": "TF1 cell"' in capsys.readouterr().out


def test_convert_dry_run_then_convert_then_inspect(ckpt, tmp_path, capsys):
    out = str(tmp_path / "wn.ckpt")
    assert cli.main(["convert", ckpt, out, "--dry-run"]) == 0
    text = capsys.readouterr().out
    assert "dry run, nothing written" in text
    assert "conv/weights -> conv/v, conv/g  [conv2d]" in text
    assert "warning: dropped 1 optimizer slot" in text
    assert not os.path.exists(out + ".index")
    assert cli.main(["convert", ckpt, out, "--exclude", "^rnn/"]) == 0
    assert "wrote" in capsys.readouterr().out
    assert cli.main(["inspect", out]) == 0
    text = capsys.readouterr().out
    assert "conv  --  weight-normalized [conv2d]" in text
    assert "up/conv2d_transpose  --  weight-normalized [conv2d_transpose]" \
        in text
    assert "TF1 cell" in text
    # exists -> 1, --force -> 0
    assert cli.main(["convert", ckpt, out]) == 1
    assert "--force" in capsys.readouterr().err
    assert cli.main(["convert", ckpt, out, "--force"]) == 0


def test_runtime_errors_exit_1(ckpt, tmp_path, capsys):
    assert cli.main(["inspect", str(tmp_path / "missing.ckpt")]) == 1
    err = capsys.readouterr().err
    assert err.startswith("tf1-wn: error: checkpoint ")
    assert "missing.ckpt" in err
    assert cli.main(["fold", ckpt, str(tmp_path / "f"), "--ws", "conv/"]) == 1
    assert "--variant" in capsys.readouterr().err


@pytest.mark.parametrize("argv", [
    [], ["convert"], ["frobnicate", "x"],
    ["convert", "a", "b", "--layout", "conv2d"],
    ["convert", "a", "b", "--layout", "x=conv9d"],
    ["convert", "a", "b", "--include", "("],
    ["fold", "a", "b", "--variant", "nope"],
])
def test_usage_errors_exit_2(argv, capsys):
    with pytest.raises(SystemExit) as info:
        cli.main(argv)
    assert info.value.code == 2
    assert "usage: tf1-wn" in capsys.readouterr().err


def _env():
    env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="3")
    return env


def test_console_script_subprocess(ckpt, tmp_path):
    script = os.path.join(VENV_BIN, "tf1-wn")
    if not os.path.exists(script):
        pytest.skip("console script not installed (pip install -e .)")
    out = str(tmp_path / "sub" / "wn.ckpt")
    done = subprocess.run([script, "convert", ckpt, out, "--keep-slots"],
                          capture_output=True, text=True, env=_env(),
                          timeout=120)
    assert done.returncode == 0, done.stderr
    assert "convert_cell rnn/basic_lstm_cell/kernel" in done.stdout
    reader = tf.train.load_checkpoint(out)
    assert "rnn/basic_lstm_cell/recurrent/g" in \
        reader.get_variable_to_shape_map()


QUIET_CHECK = """
import io, sys, contextlib
from tf1_wn import cli
out, err = io.StringIO(), io.StringIO()
with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
    try:
        code = cli.main({argv!r})
    except SystemExit as exit:
        code = exit.code
print(code, "tensorflow" in sys.modules)
sys.stdout.write(out.getvalue())
"""


@pytest.mark.parametrize("argv, code, text", [
    (["--help"], 0, "exit status:"),
    (["--version"], 0, "tf1-wn "),
    (["convert"], 2, ""),
    (["inspect", "CKPT", "--layout", "x=notakind"], 2, ""),
])
def test_help_version_and_usage_errors_do_not_import_tensorflow(
        argv, code, text):
    done = run_python(QUIET_CHECK.format(argv=argv))
    first, _, rest = done.stdout.partition("\n")
    assert first == f"{code} False", (done.stdout, done.stderr)
    assert text in rest
    if argv == ["--help"]:
        assert rest.rstrip().endswith("docs/checkpoints.md in the tf1-wn "
                                      "repository.")


def test_subcommand_error_is_one_line_without_tensorflow_banner(tmp_path):
    """No TF_CPP_MIN_LOG_LEVEL given: the command silences TF's C++
    start-up lines itself."""
    env = {k: v for k, v in os.environ.items() if k != "TF_CPP_MIN_LOG_LEVEL"}
    done = subprocess.run(
        [sys.executable, "-m", "tf1_wn.cli", "inspect",
         str(tmp_path / "missing.ckpt")],
        capture_output=True, text=True, env=env, timeout=120)
    assert done.returncode == 1
    assert done.stderr.splitlines() == [
        f"tf1-wn: error: checkpoint {str(tmp_path / 'missing.ckpt')!r} not "
        f"found: no file {str(tmp_path / 'missing.ckpt.index')!r}"], \
        done.stderr


def test_importing_the_package_does_not_import_tensorflow():
    done = run_python("""
        import sys
        import tf1_wn, tf1_wn.checkpoint
        before = "tensorflow" in sys.modules
        tf1_wn.dense, tf1_wn.checkpoint.convert_checkpoint
        print(before, "tensorflow" in sys.modules,
              sorted(set(tf1_wn.__all__) - set(dir(tf1_wn))))
    """)
    assert done.stdout.split("\n")[0] == "False True []", done.stderr


def test_quiet_import_replays_what_a_failing_import_printed(tmp_path):
    """tf1_wn.quiet drops TensorFlow's start-up lines, but not the output
    of an import that fails: that is written to stderr with the error."""
    fake = tmp_path / "tensorflow"
    fake.mkdir()
    (fake / "__init__.py").write_text(
        "import os\n"
        "os.write(2, b'C++ says: missing libcudart\\n')\n"
        "raise ImportError('broken tensorflow')\n")
    done = run_python(f"""
        import sys
        sys.path.insert(0, {str(tmp_path)!r})
        from tf1_wn import quiet
        try:
            quiet.import_tensorflow()
        except ImportError as error:
            print("raised", error)
    """)
    assert done.stdout.strip() == "raised broken tensorflow"
    assert "C++ says: missing libcudart" in done.stderr
