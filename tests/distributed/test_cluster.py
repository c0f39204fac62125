"""A real TensorFlow cluster on loopback: 1 parameter server and 2 workers,
each its own process running examples/distributed_training.py.

Data init runs once per training run, pooled over both workers' init
batches (checked against float64 NumPy); a killed and restarted worker, and
then a killed and restarted chief, run nothing again and lose no step
beyond the last checkpoint."""
import importlib.util
import json
import os
import signal
import socket
import subprocess
import sys
import threading
import time

import numpy as np
import pytest
import tensorflow.compat.v1 as tf

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(
    os.path.abspath(__file__))))
SCRIPT = os.path.join(ROOT, "examples", "distributed_training.py")
TIMEOUT = 120  # seconds for any one wait
DATA_INIT_EPS, NORM_EPS = 1e-8, 1e-12


def _example():
    spec = importlib.util.spec_from_file_location("distributed_example",
                                                  SCRIPT)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _free_ports(count):
    sockets = [socket.socket() for _ in range(count)]
    for s in sockets:
        s.bind(("127.0.0.1", 0))
    ports = [s.getsockname()[1] for s in sockets]
    for s in sockets:
        s.close()
    return ports


class Process:
    """One cluster task; collects the JSON events it prints."""

    def __init__(self, args, log_path):
        self.log = open(log_path, "ab")
        env = dict(os.environ, PYTHONUNBUFFERED="1", TF_CPP_MIN_LOG_LEVEL="2",
                   PYTHONFAULTHANDLER="1")
        self.popen = subprocess.Popen(
            [sys.executable, SCRIPT] + args, stdout=subprocess.PIPE,
            stderr=self.log, env=env, start_new_session=True)
        self.events = []
        self.reader = threading.Thread(target=self._read, daemon=True)
        self.reader.start()

    def _read(self):
        for line in self.popen.stdout:
            try:
                self.events.append(json.loads(line))
            except ValueError:
                pass

    def wait_for(self, predicate, what):
        deadline = time.monotonic() + TIMEOUT
        while time.monotonic() < deadline:
            for event in list(self.events):
                if predicate(event):
                    return event
            if self.popen.poll() is not None and not self.reader.is_alive():
                break
            time.sleep(0.05)
        if self.popen.poll() is None:  # its Python stack, into the log
            os.kill(self.popen.pid, signal.SIGABRT)
            time.sleep(1)
        raise AssertionError(f"no {what} (exit {self.popen.poll()}); see "
                             f"{self.log.name}")

    def kill(self):
        if self.popen.poll() is None:
            os.killpg(self.popen.pid, signal.SIGKILL)
        self.popen.wait(TIMEOUT)
        self.log.close()


@pytest.fixture
def cluster(tmp_path):
    ps, w0, w1 = _free_ports(3)
    common = ["--ps", f"127.0.0.1:{ps}",
              "--workers", f"127.0.0.1:{w0},127.0.0.1:{w1}"]
    started = []

    def start(job, task, *extra):
        process = Process(["--job", job, "--task", str(task)] + common
                          + list(extra),
                          tmp_path / f"{job}{task}.log")
        started.append(process)
        return process
    yield start
    for process in started:
        process.kill()


def _session(event):
    return event["event"] == "session"


def _done(event):
    return event["event"] == "done"


def _pooled_init(batch, variables):
    """float64 NumPy data init of the example's MLP on `batch`."""
    h = batch.astype(np.float64)
    want = {}
    for layer, scale, relu in (("hidden1", 1.0, True), ("hidden2", 1.0, True),
                               ("logits", 0.1, False)):
        v = variables[f"net/{layer}/v"].astype(np.float64)
        t = h @ (v / np.sqrt((v ** 2).sum(0) + NORM_EPS))
        g = scale / np.sqrt(t.var(0) + DATA_INIT_EPS)
        b = -t.mean(0) * g
        want[f"net/{layer}/g"], want[f"net/{layer}/bias"] = g, b
        h = t * g + b
        if relu:
            h = np.maximum(h, 0)
    return want


def _checkpoint(run_dir):
    reader = tf.train.load_checkpoint(run_dir)
    return {name: reader.get_tensor(name)
            for name in reader.get_variable_to_shape_map()}


def test_pooled_init_once_and_restarts(cluster, tmp_path):
    run_dir = str(tmp_path / "run")
    cluster("ps", 0).wait_for(lambda e: e["event"] == "ps_ready", "ps")

    # Phase 1: the init pass only (no step).  The other worker starts once
    # the chief initialized the variables (else TF's session manager makes
    # it wait 30 s before it looks again).
    chief = cluster("worker", 0, "--run_dir", run_dir, "--steps", "0")
    chief.wait_for(lambda e: e["event"] == "init_started", "chief's init")
    workers = [cluster("worker", 1, "--run_dir", run_dir, "--steps", "0"),
               chief]
    for worker in workers:
        worker.wait_for(_done, "end of the init-only run")
    assert workers[1].wait_for(_session, "session")["ran_init"] is True
    assert workers[0].wait_for(_session, "session")["contributed"] is True
    values = _checkpoint(run_dir)
    example = _example()
    both = np.concatenate([example.init_batch(0), example.init_batch(1)])
    want = _pooled_init(both, values)
    for name, value in want.items():
        np.testing.assert_allclose(values[name], value, rtol=2e-5,
                                   atol=2e-5, err_msg=name)
    chief_only = _pooled_init(example.init_batch(0), values)
    assert np.abs(values["net/hidden1/g"]
                  - chief_only["net/hidden1/g"]).max() > 1e-2
    assert values["tf1_wn_data_init/done"]

    # Phase 2: train; kill and restart the worker, then the chief.
    train = ["--run_dir", run_dir, "--steps", "60", "--save_steps", "10",
             "--step_delay", "0.05"]
    worker = cluster("worker", 1, *train)
    chief = cluster("worker", 0, *train)
    for process in (worker, chief):
        session = process.wait_for(_session, "session")
        assert not session["ran_init"] and not session["contributed"]
    worker.wait_for(lambda e: e.get("global_step", 0) >= 15, "step 15")
    worker.kill()
    worker = cluster("worker", 1, *train)
    session = worker.wait_for(_session, "restarted worker's session")
    assert not session["contributed"]
    chief.wait_for(lambda e: e.get("global_step", 0) >= 35, "step 35")
    chief.kill()
    saved = int(tf.train.latest_checkpoint(run_dir).rsplit("-", 1)[1])
    assert saved >= 20
    chief = cluster("worker", 0, *train)
    session = chief.wait_for(_session, "restarted chief's session")
    assert not session["ran_init"]
    # restored from the last checkpoint; the other worker may have stepped
    assert saved <= session["global_step"] <= saved + 10, (saved, session)
    for process in (worker, chief):
        process.wait_for(_done, "end of training")
    final = _checkpoint(run_dir)
    assert final["global_step"] >= 60
    for log in tmp_path.glob("*.log"):   # quiet, as every example
        assert "WARNING:tensorflow" not in log.read_text(), log
    assert np.abs(final["net/hidden1/g"] - values["net/hidden1/g"]).max() > 0
