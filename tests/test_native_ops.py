"""The native weight-standardization kernels: build, load, fall back, and
agree with float64 NumPy where the layer tests do not reach (kernels large
enough to be split across threads, gradient penalties, second derivatives).
"""
import os
import subprocess
import sys
import zlib

import numpy as np
import pytest
import tensorflow.compat.v1 as tf

import tf1_wn
from tf1_wn import cli, native_ops
from tf1_wn._tf import TF_VERSION
# Float64 NumPy references of the variants, written from the formulas.
from reference import WS_REFERENCES
from helpers import child_environment, run_python

needs_compiler = pytest.mark.skipif(not native_ops.compiler_available(),
                                    reason="no C++ compiler")


@pytest.fixture
def mode():
    """Restores the native-ops mode after the test."""
    previous = native_ops.get_mode()
    yield native_ops.set_mode
    native_ops.set_mode(previous)


def _op_types(graph):
    return {op.type for op in graph.get_operations()}


@needs_compiler
def test_library_builds_and_layers_use_it(graph, mode):
    mode("on")
    assert native_ops.library() is not None
    tf1_wn.ws_conv2d(tf.zeros([1, 4, 4, 3]), 5, 3, scope="a")
    assert "Tf1WnStandardizeWeight" in _op_types(graph)


def test_mode_off_builds_composed_ops(graph, mode):
    mode("off")
    assert native_ops.library() is None
    tf1_wn.ws_conv2d(tf.zeros([1, 4, 4, 3]), 5, 3, scope="a")
    assert "Tf1WnStandardizeWeight" not in _op_types(graph)


@needs_compiler
def test_clean_build_into_a_new_directory(tmp_path, capsys):
    # Through the command line, as `make native` does.
    assert cli.main(["build-native", "--dir", str(tmp_path)]) == 0
    path = capsys.readouterr().out.strip()
    assert os.path.isfile(path)
    assert os.path.dirname(path) == str(tmp_path)
    assert os.path.basename(path).startswith(
        f"tf1_wn_native-tf{TF_VERSION}-")
    # A second call finds the build; nothing half-written is left behind.
    assert native_ops.build(directory=str(tmp_path)) == path
    assert sorted(os.listdir(tmp_path)) == [os.path.basename(path),
                                            os.path.basename(path) + ".sha256"]
    assert native_ops.verified(path)


def test_command_line_reports_a_failed_build(tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("CXX", "no-such-compiler-tf1wn")
    assert cli.main(["build-native", "--dir", str(tmp_path)]) == 1
    assert "no-such-compiler-tf1wn" in capsys.readouterr().err


def test_missing_compiler_is_a_clear_error(tmp_path, monkeypatch):
    monkeypatch.setenv("CXX", "no-such-compiler-tf1wn")
    with pytest.raises(native_ops.NativeOpsError,
                       match="no-such-compiler-tf1wn.*TF1_WN_NATIVE_OPS=off"):
        native_ops.build(directory=str(tmp_path))
    assert os.listdir(tmp_path) == []


def test_compiler_failure_reports_its_output(tmp_path, monkeypatch):
    # `false` exists and fails: the error carries the command.
    monkeypatch.setenv("CXX", "false")
    with pytest.raises(native_ops.NativeOpsError,
                       match="(?s)failed.*false -c .*standardize_weight_op"):
        native_ops.build(directory=str(tmp_path))
    assert os.listdir(tmp_path) == []


@pytest.mark.parametrize("value", ["yes", "", "2"])
def test_bad_mode_is_rejected(value, mode):
    with pytest.raises(ValueError, match="`mode` must be one of"):
        mode(value)


FALLBACK_PROGRAM = """
import warnings
import tensorflow.compat.v1 as tf
tf.disable_eager_execution()
import tf1_wn
with warnings.catch_warnings(record=True) as caught:
    warnings.simplefilter("always")
    tf1_wn.ws_conv2d(tf.zeros([1, 4, 4, 3]), 5, 3, scope="a")
    tf1_wn.ws_conv2d(tf.zeros([1, 4, 4, 3]), 5, 3, scope="b")
types = {op.type for op in tf.get_default_graph().get_operations()}
print("native" if "Tf1WnStandardizeWeight" in types else "composed")
print(sum("native ops unavailable" in str(w.message) for w in caught))
"""


def test_failed_build_falls_back_with_one_warning(tmp_path):
    result = run_python(FALLBACK_PROGRAM, CXX="no-such-compiler-tf1wn",
                        TF1_WN_CACHE_DIR=str(tmp_path))
    assert result.returncode == 0, result.stderr
    assert result.stdout.split() == ["composed", "1"]


def test_failed_build_raises_in_mode_on(tmp_path):
    result = run_python(FALLBACK_PROGRAM, CXX="no-such-compiler-tf1wn",
                        TF1_WN_CACHE_DIR=str(tmp_path),
                        TF1_WN_NATIVE_OPS="on")
    assert result.returncode != 0
    assert "NativeOpsError" in result.stderr
    assert "no-such-compiler-tf1wn" in result.stderr


def test_bad_environment_mode_names_the_variable():
    result = run_python("import tf1_wn; tf1_wn.native_ops.get_mode()",
                        TF1_WN_NATIVE_OPS="sometimes")
    assert result.returncode != 0
    assert "$TF1_WN_NATIVE_OPS must be one of" in result.stderr
    assert "'sometimes'" in result.stderr


def _standardized_and_grads(kernel, gain, axes, **variant):
    w = tf.constant(kernel)
    g = tf.constant(gain)
    out = tf1_wn.standardization.standardize_weight(w, axes, gain=g,
                                                    **variant)
    upstream = tf.constant(np.random.default_rng(1).normal(size=kernel.shape))
    grads = tf.gradients(tf.reduce_sum(out * upstream), [w, g])
    with tf.Session() as sess:
        return sess.run([out] + grads) + [sess.run(upstream)]


@needs_compiler
@pytest.mark.parametrize("shape,axes", [
    ((3, 3, 128, 1024), [0, 1, 2]),    # conv, 1.2M entries: threaded
    ((3, 3, 512, 256), [0, 1, 3]),     # transposed conv layout: inner > 1
])
def test_large_kernels_match_numpy(graph, rng, mode, shape, axes):
    mode("on")
    kernel = rng.normal(0.3, 0.05, size=shape)
    channels = shape[[a for a in range(4) if a not in axes][0]]
    gain = rng.uniform(0.5, 1.5, size=channels)
    out, d_kernel, d_gain, upstream = _standardized_and_grads(
        kernel, gain, axes, variant="paper")
    assert "Tf1WnStandardizeWeight" in _op_types(graph)
    kept_shape = [1 if a in axes else n for a, n in enumerate(shape)]
    expected = WS_REFERENCES["paper"](kernel, tuple(axes)) * gain.reshape(
        kept_shape)
    np.testing.assert_allclose(out, expected, rtol=1e-10, atol=1e-12)
    # Closed-form gradient of sum(U * gain * (w - m) / (s + eps)), float64:
    # d gain = sum(U * w_hat / gain); d w = gain / (s + eps) * (U - mean(U)
    # - (w - m) * sum(U * (w - m)) / (s * (s + eps) * (n - 1))).
    n = np.prod([shape[a] for a in axes])
    keep = dict(axis=tuple(axes), keepdims=True)
    centred = kernel - kernel.mean(**keep)
    std = np.sqrt((centred ** 2).sum(**keep) / (n - 1))
    g = gain.reshape([1 if a in axes else s for a, s in enumerate(shape)])
    p = (upstream * centred).sum(**keep)
    expected_d_kernel = g / (std + 1e-5) * (
        upstream - upstream.mean(**keep)
        - centred * p / (std * (std + 1e-5) * (n - 1)))
    np.testing.assert_allclose(d_kernel, expected_d_kernel, rtol=1e-9,
                               atol=1e-9 * np.abs(expected_d_kernel).max())
    np.testing.assert_allclose(d_gain, (p / (std + 1e-5)).reshape(-1),
                               rtol=1e-9)


def _gradient_penalty_grads(seed):
    rng = np.random.default_rng(seed)
    x = tf.constant(rng.normal(size=(2, 6, 6, 3)))
    y = tf1_wn.ws_conv2d(
        x, 4, 3, variant="bit", gain=True, scope="d",
        kernel_initializer=tf.constant_initializer(
            rng.normal(size=(3, 3, 3, 4))))
    y = tf1_wn.ws_conv2d(
        tf.nn.softplus(y), 2, 3, variant="bit", scope="e",
        kernel_initializer=tf.constant_initializer(
            rng.normal(size=(3, 3, 4, 2))))
    # WGAN-GP: the penalty on d output / d input, differentiated w.r.t. the
    # kernels, needs first derivatives of the standardization only.
    slopes = tf.gradients(tf.reduce_sum(y), x)[0]
    penalty = tf.reduce_sum(tf.square(slopes))
    # The biases do not reach the slopes; kernels and gains do.
    variables = [v for v in tf.trainable_variables()
                 if "bias" not in v.op.name]
    grads = tf.gradients(penalty, variables)
    with tf.Session() as sess:
        sess.run(tf.global_variables_initializer())
        return sess.run(grads)


def _assert_native_matches_composed(mode, build):
    """Runs `build()` (returns the values of a fresh graph, float64) with
    the native ops and with composed ops; asserts they agree to rounding.

    Returns:
      The graphs' op types, ``{'on': set, 'off': set}``.
    """
    results, types = {}, {}
    for name in ("on", "off"):
        mode(name)
        with tf.Graph().as_default() as graph:
            results[name] = build()
            types[name] = _op_types(graph)
    for native, composed in zip(results["on"], results["off"]):
        assert np.abs(composed).max() > 0
        np.testing.assert_allclose(native, composed, rtol=1e-9,
                                   atol=1e-12 * np.abs(composed).max())
    return types


@needs_compiler
def test_gradient_penalty_matches_composed_ops(mode, rng):
    seed = int(rng.integers(1 << 30))
    _assert_native_matches_composed(
        mode, lambda: _gradient_penalty_grads(seed))


@needs_compiler
def test_second_derivative_names_the_way_out(graph, mode):
    mode("on")
    kernel = tf.constant(np.random.default_rng(2).normal(size=(3, 3, 2, 4)))
    out = tf1_wn.standardization.standardize_weight(kernel, [0, 1, 2])
    first = tf.gradients(tf.reduce_sum(tf.square(out) * out), kernel)[0]
    with pytest.raises(LookupError, match="TF1_WN_NATIVE_OPS=off"):
        tf.gradients(tf.reduce_sum(first), kernel)


def test_second_derivative_works_with_composed_ops(graph, rng, mode):
    mode("off")
    # Four entries per column: with two, the standardized column is +-1
    # whatever w, the Hessian entry is an exact 0 and only rounding noise
    # is left to compare (which failed under numpy 1.x).
    w = rng.normal(size=(4, 3))
    kernel = tf.constant(w)
    out = tf1_wn.standardization.standardize_weight(kernel, [0],
                                                    variant="timm")
    hessian = tf.hessians(tf.reduce_sum(out ** 3), kernel)[0]
    with tf.Session() as sess:
        value = sess.run(hessian)

    def loss(v):
        return float((WS_REFERENCES["timm"](v, (0,)) ** 3).sum())

    # Central differences of the float64 NumPy loss, one entry pair.
    h = 1e-4
    i, j = (1, 2), (3, 2)
    steps = []
    for di in (h, -h):
        for dj in (h, -h):
            v = w.copy()
            v[i] += di
            v[j] += dj
            steps.append(loss(v))
    expected = (steps[0] - steps[1] - steps[2] + steps[3]) / (4 * h * h)
    assert abs(expected) > 1e-2   # a real curvature, not a zero
    np.testing.assert_allclose(value[i + j], expected, rtol=1e-5)


@needs_compiler
@pytest.mark.parametrize("variant", ["paper", "bit"])
def test_float32_statistics_of_an_offset_channel(graph, rng, mode, variant):
    """A channel whose mean is 1000x its spread, its first entry an outlier.

    The kernels take mean and variance in one pass of sums shifted by the
    first entry; a plain sum of squares would cancel here and lose the
    spread in float32 (~5% error), two passes or a good shift do not.
    """
    mode("on")
    w = rng.normal(10.0, 0.01, size=(3, 3, 16, 4))
    w[0, 0, 0, :] = 10.0 + 0.05  # a 5-sigma outlier, first in each channel
    w = w.astype(np.float32).astype(np.float64)  # exact in float32
    out = tf1_wn.standardization.standardize_weight(
        tf.constant(w, tf.float32), [0, 1, 2], variant=variant)
    assert "Tf1WnStandardizeWeight" in _op_types(graph)
    with tf.Session() as sess:
        value = sess.run(out)
    expected = WS_REFERENCES[variant](w, (0, 1, 2))
    # Float32 rounds the mean (10.0) to ~5e-7, i.e. 5e-5 of the spread.
    np.testing.assert_allclose(value, expected, atol=3e-4)


@needs_compiler
def test_op_rejects_bad_shapes_by_name(graph, mode):
    library = native_ops.load()
    kernel = tf.constant(np.ones((3, 3, 2, 4), np.float32))
    with pytest.raises(tf.errors.InvalidArgumentError,
                       match="gain must have shape \\[4\\]"):
        with tf.Session() as sess:
            sess.run(library.tf1_wn_standardize_weight(
                kernel, tf.ones([5]), tf.constant(1e-5), channels_begin=3,
                channels_end=4, eps_in_var=True, unbiased=False))


@needs_compiler
def test_weight_norm_layers_use_the_native_kernel(graph, mode):
    mode("on")
    tf1_wn.conv2d(tf.zeros([1, 4, 4, 3]), 5, 3, scope="a")
    assert "Tf1WnNormalizeWeight" in _op_types(graph)


def test_weight_norm_mode_off_builds_composed_ops(graph, mode):
    mode("off")
    tf1_wn.conv2d(tf.zeros([1, 4, 4, 3]), 5, 3, scope="a")
    assert "Tf1WnNormalizeWeight" not in _op_types(graph)


@needs_compiler
@pytest.mark.parametrize("shape,axes", [
    ((3, 3, 128, 1024), [0, 1, 2]),    # conv, 1.2M entries: threaded
    ((3, 3, 512, 256), [0, 1, 3]),     # transposed conv layout: inner > 1
    ((256, 1024), [0]),                # dense
])
def test_weight_norm_kernel_matches_numpy(graph, rng, mode, shape, axes):
    mode("on")
    v = rng.normal(size=shape)
    channels = int(np.prod([n for a, n in enumerate(shape) if a not in axes]))
    g = rng.uniform(0.5, 1.5, size=channels)
    v_t, g_t = tf.constant(v), tf.constant(g)
    w = tf1_wn.normalization.normalize_weight(v_t, g_t, axes, eps=1e-3)
    assert "Tf1WnNormalizeWeight" in _op_types(graph)
    upstream = rng.normal(size=shape)
    d_v, d_g = tf.gradients(tf.reduce_sum(w * upstream), [v_t, g_t])
    with tf.Session() as sess:
        w_value, d_v_value, d_g_value = sess.run([w, d_v, d_g])
    keep = dict(axis=tuple(axes), keepdims=True)
    kept_shape = [1 if a in axes else n for a, n in enumerate(shape)]
    norm = np.sqrt((v ** 2).sum(**keep) + 1e-3)
    gain = g.reshape(kept_shape)
    np.testing.assert_allclose(w_value, gain * v / norm, rtol=1e-12)
    # Closed form: dot = sum(U * v); d g = dot / n;
    # d v = g / n * (U - v * dot / n^2).
    dot = (upstream * v).sum(**keep)
    expected_d_g = (dot / norm).reshape(-1)
    np.testing.assert_allclose(d_g_value, expected_d_g, rtol=1e-10,
                               atol=1e-12 * np.abs(expected_d_g).max())
    np.testing.assert_allclose(
        d_v_value, gain / norm * (upstream - v * dot / norm ** 2),
        rtol=1e-9, atol=1e-12)


@needs_compiler
def test_weight_norm_second_derivative_names_the_way_out(graph, mode):
    mode("on")
    v = tf.constant(np.random.default_rng(3).normal(size=(3, 3, 2, 4)))
    w = tf1_wn.normalization.normalize_weight(v, tf.ones([4], tf.float64),
                                              [0, 1, 2])
    first = tf.gradients(tf.reduce_sum(w ** 3), v)[0]
    with pytest.raises(LookupError, match="TF1_WN_NATIVE_OPS=off"):
        tf.gradients(tf.reduce_sum(first), v)


SERVER_PROGRAM = """
import sys
import tensorflow.compat.v1 as tf
tf.disable_eager_execution()
import tf1_wn
if sys.argv[2] == "load":
    assert tf1_wn.native_ops.library() is not None
cluster = tf.train.ClusterSpec({"worker": ["localhost:" + sys.argv[1]]})
server = tf.train.Server(cluster, job_name="worker", task_index=0)
print("ready", flush=True)
server.join()
"""


def _free_port():
    import socket
    with socket.socket() as sock:
        sock.bind(("localhost", 0))
        return sock.getsockname()[1]


def _wn_ws_loss_and_grads(seed):
    """A WN conv then a WS conv: the loss and its gradients (tensors)."""
    rng = np.random.default_rng(seed)
    x = tf.constant(rng.normal(size=(2, 6, 6, 3)).astype(np.float32))
    h = tf1_wn.conv2d(x, 4, 3, scope="wn", kernel_initializer=(
        tf.constant_initializer(rng.normal(size=(3, 3, 3, 4)))))
    y = tf1_wn.ws_conv2d(h, 2, 3, scope="ws", kernel_initializer=(
        tf.constant_initializer(rng.normal(size=(3, 3, 4, 2)))))
    loss = tf.reduce_sum(tf.square(y))
    return [loss] + tf.gradients(loss, tf.trainable_variables())


def _run_fresh(fetches_fn, seed, target="", device=None):
    with tf.Graph().as_default():
        with tf.device(device):
            fetches = fetches_fn(seed)
        with tf.Session(target) as sess:
            sess.run(tf.global_variables_initializer())
            return sess.run(fetches)


@needs_compiler
@pytest.mark.parametrize("server_loads", [True, False])
def test_distributed_worker_runs_native_ops_once_loaded(mode, rng,
                                                        server_loads):
    """TF's distributed runtime: the graph runs in a separate server
    process, which must have loaded the library (README, Native CPU
    kernels)."""
    port = _free_port()
    server = subprocess.Popen(
        [sys.executable, "-c", SERVER_PROGRAM, str(port),
         "load" if server_loads else "plain"],
        stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True,
        env=child_environment())
    try:
        assert server.stdout.readline().strip() == "ready"
        seed = int(rng.integers(1 << 30))
        mode("on")
        if not server_loads:
            with pytest.raises(tf.errors.OpError,
                               match="Tf1WnNormalizeWeight|Tf1WnStandardize"):
                _run_fresh(_wn_ws_loss_and_grads, seed,
                           f"grpc://localhost:{port}", "/job:worker/task:0")
            return
        remote = _run_fresh(_wn_ws_loss_and_grads, seed,
                            f"grpc://localhost:{port}", "/job:worker/task:0")
    finally:
        server.kill()
        server.wait()
    mode("off")
    local = _run_fresh(_wn_ws_loss_and_grads, seed)
    for got, expected in zip(remote, local):
        np.testing.assert_allclose(got, expected, rtol=2e-5,
                                   atol=2e-5 * np.abs(expected).max())


# -- output scaling: the dense layers' (x @ v) * factor + bias -----------

def _dense_reference(x, v, g, b, upstream, eps):
    """Float64 NumPy: y = x @ w + b with w = g * v / sqrt(sum(v^2) + eps),
    and the gradients of sum(y * upstream) from the closed form."""
    norm = np.sqrt((v ** 2).sum(axis=0, keepdims=True) + eps)
    w = g * v / norm
    d_w = x.T @ upstream
    dot = (d_w * v).sum(axis=0, keepdims=True)
    return {"y": x @ w + (0 if b is None else b),
            "x": upstream @ w.T,
            "v": g / norm * (d_w - v * dot / norm ** 2),
            "g": (dot / norm).reshape(-1),
            "b": upstream.sum(axis=0)}


@needs_compiler
@pytest.mark.parametrize("rows,features,units,use_bias", [
    (7, 300, 130, True),
    (5, 40, 3, False),
    (64, 1024, 1100, True),   # 1.1M kernel entries: threaded
])
def test_scaled_matmul_matches_numpy(graph, rng, mode, rows, features,
                                     units, use_bias):
    mode("on")
    x = rng.normal(size=(rows, features))
    v = rng.normal(size=(features, units))
    v[:, 0] = 0.0   # an all-zero column: finite, zero output
    g = rng.uniform(0.5, 1.5, size=units)
    b = rng.normal(size=units) if use_bias else None
    upstream = rng.normal(size=(rows, units))
    tensors = [tf.constant(t) for t in (x, v, g)]
    bias = None if b is None else tf.constant(b)
    y = tf1_wn.normalization.scaled_matmul(*tensors, bias, eps=1e-3)
    types = _op_types(graph)
    assert {"Tf1WnNormFactor", "Tf1WnScaleColumns"} <= types
    wrt = tensors + ([] if bias is None else [bias])
    grads = tf.gradients(tf.reduce_sum(y * upstream), wrt)
    assert {"Tf1WnScaleColumnsGrad", "Tf1WnScaledProductGrad"} <= \
        _op_types(graph)
    with tf.Session() as sess:
        values = sess.run([y] + grads)
    expected = _dense_reference(x, v, g, b, upstream, 1e-3)
    for name, value in zip(["y", "x", "v", "g", "b"], values):
        reference = expected[name]
        assert np.isfinite(value).all(), name
        np.testing.assert_allclose(value, reference, rtol=1e-9,
                                   atol=1e-12 * np.abs(reference).max(),
                                   err_msg=name)


# -- kernels and outputs split across threads ---------------------------
#
# The intra-op pool of a process is sized by its first session, so each
# thread count gets a fresh process, and one process runs every case of its
# thread count (a process per case cost more than the cases: TF's import).
# Inputs and results go through .npz, a folder per case.  Inputs are fed,
# not constants: grappler would fold constants itself.
SHARDED_PROGRAM = """
import os
import sys
import numpy as np
import tensorflow.compat.v1 as tf
import tf1_wn

tf.disable_eager_execution()
tf1_wn.native_ops.set_mode("on")
root, threads = sys.argv[1], int(sys.argv[2])
config = tf.ConfigProto(intra_op_parallelism_threads=threads)
for case in sorted(os.listdir(root)):
    path = os.path.join(root, case)
    data = dict(np.load(path + "/inputs.npz"))
    which = str(data.pop("which"))
    upstream = data.pop("upstream")
    axes = [int(a) for a in data.pop("axes")]
    with tf.Graph().as_default() as graph:
        tensors = {name: tf.placeholder(t.dtype, t.shape)
                   for name, t in data.items()}
        if which == "dense":
            outputs = tf1_wn.normalization.scaled_matmul(
                tensors["x"], tensors["v"], tensors["g"], tensors["b"],
                eps=1e-3)
        elif which in ("paper", "bit"):
            outputs = tf1_wn.standardization.standardize_weight(
                tensors["v"], axes, gain=tensors["g"], variant=which)
        else:
            outputs = tf1_wn.normalization.normalize_weight(
                tensors["v"], tensors["g"], axes, eps=1e-3)
        names = sorted(tensors)
        grads = tf.gradients(tf.reduce_sum(outputs * upstream),
                             [tensors[name] for name in names])
        types = {op.type for op in graph.get_operations()}
        assert which != "dense" or "Tf1WnScaleColumnsGrad" in types, types
        with tf.Session(config=config) as sess:
            values = sess.run([outputs] + grads,
                              {tensors[name]: data[name] for name in names})
    np.savez(path + "/outputs.npz", **dict(zip(["y"] + names, values)))
"""

SHARD_THREADS = [1, 3]
DENSE_SHARD_SHAPES = [
    (9, 1001, 1050),      # the kernel ops split, the output ops do not
    (1030, 1100, 1050),   # the output ops split too
]
KERNEL_SHARD_SHAPES = [
    ((3, 3, 117, 1000), (0, 1, 2)),   # conv: 1053 rows of 1000 channels
    ((3, 3, 1000, 120), (0, 1, 3)),   # transposed conv: 9 rows, inner > 1
]


def _dense_shard_inputs(rng, rows, features, units):
    v = rng.normal(0.2, 1.0, size=(features, units))
    v[:, 3] = 0.0
    return dict(x=rng.normal(size=(rows, features)), v=v,
                g=rng.uniform(0.5, 1.5, size=units),
                b=rng.normal(size=units),
                upstream=rng.normal(size=(rows, units)))


def _kernel_shard_inputs(rng, shape, axes, mean, scale, constant):
    """v with one channel set to `constant`, g and the upstream gradient."""
    v = rng.normal(mean, scale, size=shape)
    channel_axis = [a for a in range(4) if a not in axes][0]
    index = [slice(None)] * 4
    index[channel_axis] = 5
    v[tuple(index)] = constant
    return dict(v=v, g=rng.uniform(0.5, 1.5, size=shape[channel_axis]),
                upstream=rng.normal(size=shape))


def _shard_cases():
    """case name -> (program kind, axes, dtype, float64 input drawer)."""
    cases = {}
    for dtype in (np.float32, np.float64):
        for rows, features, units in DENSE_SHARD_SHAPES:
            cases[f"dense-{rows}x{features}x{units}-{dtype.__name__}"] = (
                "dense", (), dtype, lambda rng, s=(rows, features, units):
                _dense_shard_inputs(rng, *s))
        for shape, axes in KERNEL_SHARD_SHAPES:
            cases[f"norm-{shape}-{dtype.__name__}"] = (
                "kernel", axes, dtype, lambda rng, s=shape, a=axes:
                _kernel_shard_inputs(rng, s, a, 0.1, 1.0, 0.0))
    for variant in ("paper", "bit"):
        for shape, axes in KERNEL_SHARD_SHAPES:
            cases[f"{variant}-{shape}-float64"] = (
                variant, axes, np.float64, lambda rng, s=shape, a=axes:
                _kernel_shard_inputs(rng, s, a, 0.3, 0.05, 0.7))
    return cases


@pytest.fixture(scope="module")
def sharded(tmp_path_factory):
    """``sharded(threads, case) -> (float64 inputs, outputs)``: every case
    of a thread count runs in one fresh process, the first time one of its
    cases is asked for.  Inputs are drawn from the case's name."""
    cases = _shard_cases()
    runs = {}

    def run(threads, case):
        if threads not in runs:
            root = tmp_path_factory.mktemp(f"shards-{threads}")
            inputs = {}
            for name, (which, axes, dtype, draw) in cases.items():
                inputs[name] = draw(np.random.default_rng(
                    zlib.crc32(f"{name}/{threads}".encode())))
                (root / name).mkdir()
                np.savez(root / name / "inputs.npz",
                         which=np.array(which),
                         axes=np.array(axes, np.int64),
                         **{key: value.astype(dtype)
                            for key, value in inputs[name].items()})
            result = subprocess.run(
                [sys.executable, "-c", SHARDED_PROGRAM, str(root),
                 str(threads)], capture_output=True, text=True,
                timeout=600, env=dict(os.environ, TF_CPP_MIN_LOG_LEVEL="3"),
                check=False)
            assert result.returncode == 0, result.stderr[-3000:]
            runs[threads] = {
                name: (inputs[name],
                       dict(np.load(root / name / "outputs.npz")))
                for name in cases}
        return runs[threads][case]

    return run


def _assert_close(values, expected, dtype):
    tolerance = 2e-4 if dtype == np.float32 else 1e-9
    for name, reference in expected.items():
        value = values[name]
        assert value.dtype == dtype, name
        np.testing.assert_allclose(value, reference, rtol=tolerance,
                                   atol=tolerance * np.abs(reference).max(),
                                   err_msg=name)


@needs_compiler
@pytest.mark.parametrize("threads", SHARD_THREADS)
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("rows,features,units", DENSE_SHARD_SHAPES)
def test_scaled_matmul_row_shards_match_numpy(sharded, threads, dtype,
                                              rows, features, units):
    """Kernels and outputs of a million entries or more are split into
    contiguous row ranges, one per intra-op thread: 1001 kernel rows and
    1030 output rows (not multiples of the 16-row blocks) over 1 and 3
    threads give the float64 reference."""
    inputs, values = sharded(
        threads, f"dense-{rows}x{features}x{units}-{dtype.__name__}")
    _assert_close(values, _dense_reference(
        inputs["x"], inputs["v"], inputs["g"], inputs["b"],
        inputs["upstream"], 1e-3), dtype)


@needs_compiler
@pytest.mark.parametrize("threads", SHARD_THREADS)
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("shape,axes", KERNEL_SHARD_SHAPES)
def test_weight_norm_row_shards_match_numpy(sharded, threads, dtype, shape,
                                            axes):
    """Tf1WnNormalizeWeight and its gradient, both passes split into row
    ranges, against the float64 closed form; one channel is all zeros
    (finite, zero output)."""
    inputs, values = sharded(threads, f"norm-{shape}-{dtype.__name__}")
    v, g, upstream = inputs["v"], inputs["g"], inputs["upstream"]
    keep = dict(axis=axes, keepdims=True)
    kept_shape = [1 if a in axes else n for a, n in enumerate(shape)]
    norm = np.sqrt((v ** 2).sum(**keep) + 1e-3)
    gain = g.reshape(kept_shape)
    dot = (upstream * v).sum(**keep)
    _assert_close(values, {
        "y": gain * v / norm,
        "v": gain / norm * (upstream - v * dot / norm ** 2),
        "g": (dot / norm).reshape(-1)}, dtype)


@needs_compiler
@pytest.mark.parametrize("threads", SHARD_THREADS)
@pytest.mark.parametrize("variant", ["paper", "bit"])
@pytest.mark.parametrize("shape,axes", KERNEL_SHARD_SHAPES)
def test_weight_standardization_row_shards_match_numpy(
        sharded, threads, variant, shape, axes):
    """Tf1WnStandardizeWeight and its gradient, both passes split into row
    ranges, against float64 closed forms; one channel is constant."""
    inputs, values = sharded(threads, f"{variant}-{shape}-float64")
    v, g, upstream = inputs["v"], inputs["g"], inputs["upstream"]
    keep = dict(axis=axes, keepdims=True)
    kept_shape = [1 if a in axes else n for a, n in enumerate(shape)]
    gain = g.reshape(kept_shape)
    n = np.prod([shape[a] for a in axes])
    centred = v - v.mean(**keep)
    # d w = g r (U - mean(U) - centred r t P / divisor), P = sum(U centred):
    # paper, r = 1 / (std + 1e-5), t = 1 / std (0 for a constant channel),
    # unbiased; BiT, r = t = 1 / sqrt(var + 1e-10), biased.
    if variant == "paper":
        divisor = n - 1
        std = np.sqrt((centred ** 2).sum(**keep) / divisor)
        r = 1.0 / (std + 1e-5)
        t = np.divide(1.0, std, out=np.zeros_like(std), where=std > 0)
    else:
        divisor = n
        r = t = 1.0 / np.sqrt((centred ** 2).sum(**keep) / divisor + 1e-10)
    p = (upstream * centred).sum(**keep)
    _assert_close(values, {
        "y": WS_REFERENCES[variant](v, axes) * gain,
        "v": gain * r * (upstream - upstream.mean(**keep)
                         - centred * r * t * p / divisor),
        "g": (r * p).reshape(-1)}, np.float64)


def _constant(r, shape):
    return tf.constant_initializer(r.normal(size=shape))


def _run(fetches):
    with tf.Session() as sess:
        sess.run(tf.global_variables_initializer())
        return sess.run(fetches)


@needs_compiler
def test_dense_layer_takes_the_fused_path_and_matches_composed(mode, rng):
    """The layer, training: the native and the composed graph give the same
    loss and gradients for a two-layer MLP with fewer rows than features."""
    seed = int(rng.integers(1 << 30))

    def loss_and_grads():
        r = np.random.default_rng(seed)
        x = tf.constant(r.normal(size=(6, 50)))
        h = tf1_wn.dense(x, 80, activation=tf.nn.tanh, scope="a",
                         kernel_initializer=_constant(r, (50, 80)),
                         bias_initializer=_constant(r, (80,)))
        y = tf1_wn.dense(h, 90, use_bias=False, scope="b",
                         kernel_initializer=_constant(r, (80, 90)))
        loss = tf.reduce_sum(tf.sin(y))
        return _run([loss] + tf.gradients(loss, tf.trainable_variables()))

    types = _assert_native_matches_composed(mode, loss_and_grads)
    assert "Tf1WnScaledProductGrad" in types["on"]
    assert "Tf1WnScaledProductGrad" not in types["off"]


@needs_compiler
def test_norm_factor_gradient_alone_matches_closed_form(graph, rng, mode):
    mode("on")
    library = native_ops.load()
    v = rng.normal(size=(30, 9))
    g = rng.uniform(0.5, 1.5, size=9)
    u = rng.normal(size=9)
    v_t, g_t = tf.constant(v), tf.constant(g)
    factor, inverse = library.tf1_wn_norm_factor(
        v_t, g_t, tf.constant(1e-6, tf.float64), channels_begin=1,
        channels_end=2)
    d_v, d_g = tf.gradients(tf.reduce_sum(factor * u), [v_t, g_t])
    with tf.Session() as sess:
        values = sess.run([factor, inverse, d_v, d_g])
    n = np.sqrt((v ** 2).sum(axis=0) + 1e-6)
    np.testing.assert_allclose(values[0], g / n, rtol=1e-12)
    np.testing.assert_allclose(values[1], 1 / n, rtol=1e-12)
    # d (g / n) / d v = -g * v / n^3;  d / d g = 1 / n.
    np.testing.assert_allclose(values[2], -u * g * v / n ** 3, rtol=1e-10)
    np.testing.assert_allclose(values[3], u / n, rtol=1e-12)


@needs_compiler
def test_dense_gradient_penalty_matches_composed_ops(mode, rng):
    """WGAN-GP through weight-normalized dense layers: the penalty's
    gradient reaches the native upstream-gradient op (composed second
    derivative) and equals the composed graph's."""
    seed = int(rng.integers(1 << 30))

    def penalty_grads():
        r = np.random.default_rng(seed)
        x = tf.constant(r.normal(size=(4, 20)))
        h = tf1_wn.dense(x, 30, activation=tf.nn.softplus, scope="d",
                         kernel_initializer=_constant(r, (20, 30)))
        y = tf1_wn.dense(h, 1, scope="e",
                         kernel_initializer=_constant(r, (30, 1)))
        slopes = tf.gradients(tf.reduce_sum(y), x)[0]
        penalty = tf.reduce_sum(tf.square(slopes))
        variables = [v for v in tf.trainable_variables()
                     if "bias" not in v.op.name]
        return _run(tf.gradients(penalty, variables))

    types = _assert_native_matches_composed(mode, penalty_grads)
    assert "Tf1WnScaleColumnsGrad" in types["on"]


@needs_compiler
def test_scale_columns_rejects_bad_shapes_by_name(graph, mode):
    mode("on")
    library = native_ops.load()
    with tf.Session() as sess:
        with pytest.raises(tf.errors.InvalidArgumentError,
                           match=r"per-column vectors must have shape \[3\]"):
            sess.run(library.tf1_wn_scale_columns(
                tf.ones([2, 3]), tf.ones([4]), []))
        with pytest.raises(tf.errors.InvalidArgumentError,
                           match="product must be a matrix"):
            sess.run(library.tf1_wn_scale_columns_grad(
                tf.ones([2, 3, 1]), tf.ones([2, 3, 1]), tf.ones([3])))
