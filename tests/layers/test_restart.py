"""Data init runs once in the life of a checkpoint directory under
MonitoredTrainingSession, and a killed and restarted job resumes with
exactly its trained weights (`tf1_wn.data_init_scaffold`)."""
import os
import signal
import subprocess
import sys
import textwrap
import time

import numpy as np
import pytest
import tensorflow.compat.v1 as tf

import tf1_wn

# One script for every run: the model, the scaffold and a training loop
# that prints the step after each save, so the test can kill it mid-run.
TRAIN = textwrap.dedent("""
    import os, sys
    os.environ["TF_CPP_MIN_LOG_LEVEL"] = "3"
    import numpy as np
    import tensorflow.compat.v1 as tf
    run_dir, init_seed, steps = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
    if sys.argv[4] == "tf1":  # reference variables, as most TF1 code has
        tf.disable_v2_behavior()
    else:
        tf.disable_eager_execution()
    import tf1_wn

    rng = np.random.default_rng(init_seed)
    x = tf.placeholder(tf.float32, [None, 5])
    y = tf.placeholder(tf.float32, [None, 1])

    def model(init):
        h = tf1_wn.dense(x, 8, activation=tf.nn.relu, init=init, scope="h")
        return tf1_wn.dense(h, 1, init=init, scope="out")

    model(True)
    loss = tf.reduce_mean((model(False) - y) ** 2)
    step = tf.train.get_or_create_global_step()
    train = tf.train.AdamOptimizer(0.05).minimize(loss, global_step=step)
    init_batch = rng.normal(size=(64, 5)).astype(np.float32)
    scaffold = tf1_wn.data_init_scaffold(feed_fn=lambda: {x: init_batch})
    data = np.random.default_rng(7)
    with tf.train.MonitoredTrainingSession(
            checkpoint_dir=run_dir, scaffold=scaffold,
            save_summaries_steps=None,
            save_checkpoint_steps=1, log_step_count_steps=None,
            hooks=[tf.train.StopAtStepHook(last_step=steps)]) as sess:
        print("start", sess.run(step), flush=True)
        while not sess.should_stop():
            xb = data.normal(size=(32, 5)).astype(np.float32)
            yb = xb[:, :1] * 2.0 - xb[:, 1:2]
            sess.run(train, {x: xb, y: yb})
""")


def _run(run_dir, init_seed, steps, behavior="tf2"):
    """Starts TRAIN; `behavior` "tf1" runs it under disable_v2_behavior()."""
    return subprocess.Popen(
        [sys.executable, "-c", TRAIN, str(run_dir), str(init_seed),
         str(steps), behavior], stdout=subprocess.PIPE,
        stderr=subprocess.PIPE, text=True)


def _checkpoint_values(run_dir):
    prefix = tf.train.latest_checkpoint(str(run_dir))
    reader = tf.train.load_checkpoint(prefix)
    names = ["h/g", "h/bias", "h/v", "out/g", "out/bias", "global_step"]
    return prefix, {name: reader.get_tensor(name) for name in names}


@pytest.mark.parametrize("behavior", ["tf2", "tf1"])
def test_killed_job_restarts_with_its_trained_weights(tmp_path, behavior):
    run_dir = tmp_path / "run"
    # First start: data init, then training, killed while it trains.
    first = _run(run_dir, init_seed=1, steps=10_000, behavior=behavior)
    try:
        assert first.stdout.readline().split() == ["start", "0"]
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline and first.poll() is None:
            prefix = tf.train.latest_checkpoint(str(run_dir))
            if prefix is not None and int(prefix.rsplit("-", 1)[1]) >= 20:
                break
            time.sleep(0.2)
        first.send_signal(signal.SIGKILL)
    finally:
        first.kill()
        first.wait()
    assert first.returncode == -signal.SIGKILL
    prefix, trained = _checkpoint_values(run_dir)
    assert trained["global_step"] >= 20
    # Initialized and then trained: g is neither 1 nor the init value alone.
    assert not np.allclose(trained["h/g"], 1.0)

    # The restart feeds a different init batch: re-running data init would
    # change g and bias.  It must resume from the checkpoint instead.
    resumed = _run(run_dir, init_seed=99, steps=int(trained["global_step"]),
                   behavior=behavior)
    out, err = resumed.communicate(timeout=120)
    assert resumed.returncode == 0, err[-2000:]
    assert out.split() == ["start", str(trained["global_step"])]
    _, after = _checkpoint_values(run_dir)
    for name, value in trained.items():
        np.testing.assert_array_equal(after[name], value, err_msg=name)


def test_first_start_initializes_before_the_step_zero_checkpoint(tmp_path):
    """The checkpoint MonitoredTrainingSession saves at step 0 already holds
    the data-initialized g and bias (checked against float64 NumPy)."""
    run_dir = tmp_path / "run"
    done = _run(run_dir, init_seed=3, steps=0)
    out, err = done.communicate(timeout=120)
    assert done.returncode == 0, err[-2000:]
    _, values = _checkpoint_values(run_dir)
    assert values["global_step"] == 0
    init_batch = np.random.default_rng(3).normal(size=(64, 5)).astype(
        np.float32).astype(np.float64)
    v = values["h/v"].astype(np.float64)
    t = init_batch @ (v / np.linalg.norm(v, axis=0))
    np.testing.assert_allclose(values["h/g"], 1 / np.sqrt(t.var(0) + 1e-8),
                               rtol=2e-5)
    np.testing.assert_allclose(values["h/bias"],
                               -t.mean(0) / np.sqrt(t.var(0) + 1e-8),
                               rtol=2e-4, atol=2e-5)


def test_scaffold_arguments_are_checked(graph):
    x = tf.placeholder(tf.float32, [None, 2])
    with pytest.raises(ValueError, match="No data-init ops found"):
        tf1_wn.data_init_scaffold()
    tf1_wn.dense(x, 2, init=True)
    with pytest.raises(TypeError, match="not both"):
        tf1_wn.data_init_scaffold(feed_dict={}, feed_fn=dict)
    with pytest.raises(TypeError, match="`feed_fn` must be a callable"):
        tf1_wn.data_init_scaffold(feed_fn={x: 1})
    with pytest.raises(TypeError, match="`scaffold` must be a"):
        tf1_wn.data_init_scaffold(scaffold=object())


def test_scaffold_keeps_the_users_init_fn_and_fields(graph, tmp_path):
    x = tf.placeholder(tf.float32, [None, 2])
    tf1_wn.dense(x, 2, init=True, scope="d")
    tf.train.get_or_create_global_step()
    calls = []
    saver = tf.train.Saver(max_to_keep=3)
    base = tf.train.Scaffold(saver=saver,
                             init_fn=lambda scaffold, sess: calls.append(1))
    scaffold = tf1_wn.data_init_scaffold(
        feed_dict={x: np.random.default_rng(0).normal(size=(8, 2))},
        scaffold=base)
    assert scaffold.saver is saver
    with tf.train.MonitoredTrainingSession(
            checkpoint_dir=str(tmp_path), scaffold=scaffold,
            save_summaries_steps=None) as sess:
        g = sess.run(tf.global_variables("d/g")[0])
    assert calls == [1]
    assert not np.allclose(g, 1.0)
    assert os.path.exists(str(tmp_path / "checkpoint"))
