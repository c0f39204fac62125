"""Runs every script under examples/ for a few steps so they keep working.

Each example runs as a subprocess, as a user would run it. Starting
TensorFlow costs several CPU-seconds per process, so the selected examples
are all launched at the start of this module, a few at a time, and each test
then waits for its own: the file stays well under a minute and a half.
"""
import concurrent.futures
import importlib.util
import os
import re
import subprocess
import sys

import numpy as np
import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
EXAMPLES = os.path.join(ROOT, "examples")
DOCS = os.path.join(ROOT, "docs")
DEMO_MODELS = ["plain CNN", "weight norm",
               "weight norm + data init", "batch norm"]

# Our examples with short runs. "{tmp}" is the test's scratch directory.
ARGS = {
    "demo.py": ["--steps", "30", "--seed", "1",
                "--out", "{tmp}/pics/loss.png"],
    "dense_conv_init.py": ["--steps", "20"],
    "multi_tower.py": ["--steps", "10"],
    "save_restore.py": ["--steps", "10", "--dir", "{tmp}"],
    "polyak_ema.py": ["--steps", "20"],
    "lasagne_gan_port.py": ["--epochs", "4"],
    "pixelcnn_port.py": ["--steps", "20"],
}
# Run by their own tests: distributed_training.py starts a cluster of
# processes (tests/distributed/test_cluster.py).
# Examples written alongside (checked for a clean exit only), when present.
OTHERS = ["sequence_classifier.py",
          "ws_groupnorm_resnet.py", "lasagne_port.py"]
for _name in OTHERS:
    _path = os.path.join(EXAMPLES, _name)
    if os.path.exists(_path):
        with open(_path, encoding="utf-8") as _f:
            ARGS[_name] = ["--steps", "5"] if '"--steps"' in _f.read() else []

TIMEOUT = 180  # seconds per example, generous for a loaded machine


class Runs:
    """Starts the selected examples in a small pool; `get` waits for one."""

    def __init__(self, names, tmp_factory):
        self.tmp = {name: str(tmp_factory.mktemp(name.replace(".py", "")))
                    for name in names}
        env = dict(os.environ, MPLBACKEND="Agg", TF_CPP_MIN_LOG_LEVEL="2",
                   PYTHONUNBUFFERED="1")
        self.pool = concurrent.futures.ThreadPoolExecutor(max_workers=3)
        # Slowest first, so the pool drains evenly.
        self.futures = {
            name: self.pool.submit(self._run, name, env)
            for name in sorted(names, key=lambda n: n != "demo.py")}

    def _run(self, name, env):
        args = [a.format(tmp=self.tmp[name]) for a in ARGS[name]]
        return subprocess.run(
            [sys.executable, os.path.join(EXAMPLES, name)] + args,
            cwd=self.tmp[name], env=env, capture_output=True, text=True,
            timeout=TIMEOUT)

    def get(self, name):
        result = self.futures[name].result()
        assert result.returncode == 0, (
            f"{name} exited {result.returncode}\n--- stdout\n{result.stdout}"
            f"\n--- stderr\n{result.stderr[-4000:]}")
        return result


def uses(name):
    """Marks a test as reading the run of example `name`."""
    def mark(test):
        test.example = name
        return test
    return mark


@pytest.fixture(scope="module")
def runs(request, tmp_path_factory):
    # Start only the examples the selected tests (e.g. under -k) need.
    selected = set()
    for item in request.session.items:
        if item.module is request.module and "runs" in item.fixturenames:
            callspec = getattr(item, "callspec", None)
            selected.add(callspec.params["name"] if callspec
                         else item.function.example)
    runner = Runs(selected, tmp_path_factory)
    yield runner
    runner.pool.shutdown(wait=True)


#: What TensorFlow prints unless silenced: its C++ start-up lines (which
#: TF_CPP_MIN_LOG_LEVEL, set for the runs, does not hide) and Python-side
#: deprecation notices.
NOISE = re.compile(r"InitializeLog|oneDNN custom operations|"
                   r"cpu_feature_guard|WARNING:tensorflow")


@pytest.mark.parametrize("name", sorted(ARGS))
def test_example_runs_quietly(runs, name):
    result = runs.get(name)
    noise = [line for line in result.stderr.splitlines()
             if NOISE.search(line)]
    assert not noise, noise


@uses("demo.py")
def test_demo_prints_table_and_writes_png(runs):
    result = runs.get("demo.py")
    tmp = runs.tmp["demo.py"]
    png = os.path.join(tmp, "pics", "loss.png")
    assert f"loss curves: {png}" in result.stdout
    with open(png, "rb") as f:
        assert f.read(8) == b"\x89PNG\r\n\x1a\n"
    assert os.path.getsize(png) > 5000
    header = ("| model | loss @ step 3 | final train loss | test accuracy "
              "| steps/s | wall time |")
    assert header in result.stdout
    for model in DEMO_MODELS:
        assert re.search(rf"^\| {re.escape(model)} \| [\d.]+ \| [\d.]+ \| "
                         rf"[\d.]+% \| \d+ \| [\d.]+ s \|$", result.stdout,
                         re.M), model
    # The same table is written next to the picture.
    with open(os.path.join(tmp, "pics", "demo_results.md")) as f:
        assert header in f.read()
    # Not a terminal: the progress bars degrade to plain lines on stderr.
    assert "weight norm + data init  step 30/30 loss" in result.stderr


def _load_demo():
    spec = importlib.util.spec_from_file_location(
        "demo", os.path.join(EXAMPLES, "demo.py"))
    demo = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(demo)
    return demo


def test_demo_options(capsys):
    demo = _load_demo()
    args = demo.parse_args(["--models", "wn_init, plain", "--out", "x/l.png"])
    assert args.models == ["wn_init", "plain"] and args.steps == 500
    assert args.table == os.path.join("x", "demo_results.md")
    with pytest.raises(SystemExit) as exit_info:
        demo.parse_args(["--help"])
    assert exit_info.value.code == 0
    assert "--models" in capsys.readouterr().out
    with pytest.raises(SystemExit) as exit_info:
        demo.parse_args(["--models", "plain,resnet"])
    assert exit_info.value.code == 2


def test_committed_demo_output_is_complete():
    """docs/ holds the picture and table of a default demo run."""
    with open(os.path.join(DOCS, "demo_loss.png"), "rb") as f:
        assert f.read(8) == b"\x89PNG\r\n\x1a\n"
    with open(os.path.join(DOCS, "demo_results.md")) as f:
        table = f.read()
    assert "| model | loss @ step 50 |" in table  # 500 steps: the default
    for model in DEMO_MODELS:
        assert f"| {model} |" in table


@uses("dense_conv_init.py")
def test_dense_conv_init_normalizes_every_layer(runs):
    out = runs.get("dense_conv_init.py").stdout
    after = out.split("after tf1_wn.init_op()")[1]
    for layer in ("conv0", "conv1", "dense"):
        assert re.search(
            rf"{layer}\s+channel means [+-]0\.000\s+channel stds 1\.000",
            after)
    assert re.search(
        r"logits\s+channel means [+-]0\.000\s+channel stds 0\.100", after)
    gap = float(re.search(r"normal output\| = (\S+)", out).group(1))
    assert gap < 1e-4


@uses("multi_tower.py")
def test_multi_tower_shares_variables_across_devices(runs):
    out = runs.get("multi_tower.py").stdout
    assert "2 towers share 9 variables" in out
    assert "init ops: 3 (one per layer)" in out
    assert "devices: CPU:0, CPU:1" in out
    assert "tower 1: loss computed on /device:CPU:1" in out
    assert "accuracy on all digits" in out


@uses("save_restore.py")
def test_save_restore_outputs_equal(runs):
    out = runs.get("save_restore.py").stdout
    assert "outputs equal after restore: True" in out
    assert re.search(r"conv0/g\s+\[16\]", out)
    assert os.path.exists(os.path.join(
        runs.tmp["save_restore.py"], "model.ckpt.index"))


@uses("polyak_ema.py")
def test_polyak_ema_starts_synchronized(runs):
    out = runs.get("polyak_ema.py").stdout
    assert "averaged model == raw model: True" in out
    assert re.search(r"^\s+20\s+[\d.]+\s+[\d.]+\s+[\d.]+$", out, re.M)


@uses("lasagne_gan_port.py")
def test_lasagne_gan_port_learns_from_few_labels(runs):
    """The worked port trains: 12 labels, 3 classes (chance error 0.67)."""
    out = runs.get("lasagne_gan_port.py").stdout
    errors = [float(e) for e in re.findall(r"test err = ([\d.]+)", out)]
    assert len(errors) == 4
    assert errors[-1] < errors[0] and errors[-1] < 0.3, errors
    losses = [float(v) for v in re.findall(r"loss_unl = ([\d.]+)", out)]
    assert all(np.isfinite(losses)), losses


@uses("pixelcnn_port.py")
def test_pixelcnn_port_trains_and_keeps_pixelcnn_names(runs):
    out = runs.get("pixelcnn_port.py").stdout
    start = float(re.search(r"after data init: ([\d.]+)", out).group(1))
    end = float(re.search(r"final: ([\d.]+)", out).group(1))
    assert np.isfinite(start) and end < start - 0.5, out
    assert "model/conv2d_0/V, model/conv2d_0/V/ExponentialMovingAverage" \
        in out


class _FakeTerminal:
    def __init__(self):
        self.text = ""

    def isatty(self):
        return True

    def write(self, text):
        self.text += text

    def flush(self):
        pass


def test_demo_progress_bar_redraws_one_line_on_a_terminal():
    demo = _load_demo()
    stream = _FakeTerminal()
    bar = demo.ProgressBar("wn", 40, stream=stream)
    for step in range(1, 41):
        bar.update(step, 0.5)
    bar.close()
    assert stream.text.count("\n") == 1 and stream.text.endswith("\n")
    assert stream.text.startswith("\rwn")
    assert f"[{'#' * 30}] 40/40 loss 0.500" in stream.text
