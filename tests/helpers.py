"""Test helpers that build or run TensorFlow graphs, shared by test modules.

The float64 references live in `reference`; nothing here computes an
expected value except through them.
"""
import contextlib
import hashlib
import os
import subprocess
import sys
import textwrap

import numpy as np
import tensorflow.compat.v1 as tf

import tf1_wn
from reference import run_rnn

#: The three cell kinds `make_cell` builds.
CELL_KINDS = ["rnn", "gru", "lstm"]


def make_cell(kind, n, **kwargs):
    cls = {"rnn": tf1_wn.WeightNormRNNCell, "gru": tf1_wn.WeightNormGRUCell,
           "lstm": tf1_wn.WeightNormLSTMCell}[kind]
    return cls(n, **kwargs)


def cell_params(cell_scope):
    """The cell's variables by name relative to its scope."""
    prefix = cell_scope + "/"
    return {v.op.name[len(prefix):]: v for v in tf.global_variables()
            if v.op.name.startswith(prefix)}


def randomize(sess, variables, rng):
    """Random values for every variable: v normal, g positive, bias normal."""
    values = {}
    for name, var in variables.items():
        shape = var.shape.as_list()
        if name.endswith("/g"):
            value = rng.uniform(0.5, 2.0, shape)
        else:
            value = rng.normal(0.0, 0.7, shape)
        var.load(value, sess)
        values[name] = value
    return values


def flatten_state(state):
    return list(state) if isinstance(state, tuple) else [state]


def check_lstm_gru_stack(multi, rng):
    """Runs `multi`, a stack of WeightNormLSTMCell(4) then
    WeightNormGRUCell(3) on depth-5 inputs, against the NumPy reference."""
    x_value = rng.normal(size=(3, 4, 5))
    outputs, final = tf.nn.dynamic_rnn(multi, tf.constant(x_value),
                                       dtype=tf.float64)
    lstm_vars = cell_params("rnn/multi_rnn_cell/cell_0/wn_lstm_cell")
    gru_vars = cell_params("rnn/multi_rnn_cell/cell_1/wn_gru_cell")
    assert len(lstm_vars) == 5 and len(gru_vars) == 10
    with tf.Session() as sess:
        lstm_p = randomize(sess, lstm_vars, rng)
        gru_p = randomize(sess, gru_vars, rng)
        got_out, got_final = sess.run([outputs, final])
    mid, lstm_state = run_rnn("lstm", lstm_p, x_value, 4)
    want, gru_state = run_rnn("gru", gru_p, mid, 3)
    np.testing.assert_allclose(got_out, want, rtol=1e-10, atol=1e-11)
    np.testing.assert_allclose(got_final[0].c, lstm_state[0], rtol=1e-10,
                               atol=1e-11)
    np.testing.assert_allclose(got_final[0].h, lstm_state[1], rtol=1e-10)
    np.testing.assert_allclose(got_final[1], gru_state, rtol=1e-10,
                               atol=1e-11)


def save_checkpoint(prefix, values):
    """Writes ``{name: array}`` as a tf.train.Saver checkpoint `prefix`."""
    with tf.Graph().as_default():
        variables = {name: tf.Variable(value, name="v%d" % i)
                     for i, (name, value) in enumerate(sorted(values.items()))}
        with tf.Session() as session:
            session.run(tf.global_variables_initializer())
            tf.train.Saver(variables).save(session, prefix,
                                           write_meta_graph=False)


def directory_digest(directory):
    """``{file name: sha256}`` of the files directly in `directory`."""
    out = {}
    for name in sorted(os.listdir(directory)):
        path = os.path.join(directory, name)
        if os.path.isfile(path):
            with open(path, "rb") as f:
                out[name] = hashlib.sha256(f.read()).hexdigest()
    return out


#: What `variables_of` builds: TF2's resource variables, or TF1's reference
#: variables (the default under ``tf.disable_v2_behavior()``).
VARIABLE_KINDS = ["resource", "reference"]


def variables_of(kind):
    """A variable scope whose `get_variable` creates `kind` variables (one
    of `VARIABLE_KINDS`); names are unchanged."""
    return tf.variable_scope(tf.get_variable_scope(),
                             use_resource=kind == "resource")


@contextlib.contextmanager
def control_flow(version):
    """Builds with TF1 (``"v1"``) or TF2 (``"v2"``) control flow inside the
    block, and restores the process's previous setting after it (a run with
    ``tf.disable_v2_behavior()`` stays on v1)."""
    enabled = tf.control_flow_v2_enabled()
    if version == "v1":
        tf.disable_control_flow_v2()
    else:
        tf.enable_control_flow_v2()
    try:
        yield
    finally:
        if enabled:
            tf.enable_control_flow_v2()
        else:
            tf.disable_control_flow_v2()


def child_environment(**env):
    """This process's environment for a child process, with `env` added.

    ``$TF1_WN_NATIVE_OPS`` is left out unless `env` sets it: a run of the
    suite with it set (``TF1_WN_NATIVE_OPS=off pytest tests``, the composed
    path everywhere in this process) must not change what the tests of
    processes, builds and caches check.
    """
    environment = {key: value for key, value in os.environ.items()
                   if key != "TF1_WN_NATIVE_OPS"}
    environment.update(TF_CPP_MIN_LOG_LEVEL="3", **env)
    return environment


def run_python(code, **env):
    """Runs (dedented) `code` in a fresh Python with `env` added to the
    environment (`child_environment`); the CompletedProcess, output
    captured as text."""
    environment = child_environment(**env)
    return subprocess.run([sys.executable, "-c", textwrap.dedent(code)],
                          env=environment, capture_output=True, text=True,
                          timeout=300, check=False)
