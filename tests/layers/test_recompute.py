"""`tf1_wn.recompute_kernels`: the gradient recomputes each layer's
normalized kernel instead of keeping it.  The values against float64 NumPy
are in test_layers_numerics (every layer kind, both paths); here: the
memory it saves, when the recomputation runs, a training run, a graph
imported from a MetaGraph, bad arguments."""
import re

import numpy as np
import pytest
import tensorflow.compat.v1 as tf

import tf1_wn
import reference as ref
from helpers import control_flow as control_flow_version, run_python

pytestmark = pytest.mark.usefixtures("implementation")

LAYERS = 8
CHANNELS = 32


def _net(x, layer):
    for index in range(LAYERS):
        x = layer(x, f"l{index}")
    return tf.reduce_sum(tf.square(x))


def _wn(x, scope):
    return tf1_wn.conv2d(x, CHANNELS, 3, activation=tf.nn.tanh, scope=scope)


def _plain(x, scope):
    with tf.variable_scope(scope):
        kernel = tf.get_variable("kernel", [3, 3, CHANNELS, CHANNELS],
                                 tf.float32)
        return tf.nn.tanh(tf.nn.conv2d(x, kernel, 1, "SAME"))


def _kernels_kept_into_backward(sess, op, kernel_bytes, activation_bytes):
    """How many kernel-sized tensors that forward ops allocated are still
    alive when the backward pass allocates its first activation-sized
    gradient (the loss's), in one run of `op`, from the allocation records
    of TensorFlow's step stats."""
    metadata = tf.RunMetadata()
    sess.run(op, options=tf.RunOptions(
        trace_level=tf.RunOptions.FULL_TRACE), run_metadata=metadata)
    forward, backward_start = [], float("inf")
    for device in metadata.step_stats.dev_stats:
        for node in device.node_stats:
            backward = re.match(r"gradients(_\d+)?/", node.node_name)
            for memory in node.memory:
                for record in memory.allocation_records:
                    if backward and record.alloc_bytes == activation_bytes:
                        backward_start = min(backward_start,
                                             record.alloc_micros)
                    elif not backward and \
                            abs(record.alloc_bytes) == kernel_bytes:
                        forward.append(record)
    return sum(1 if record.alloc_bytes > 0 else -1 for record in forward
               if record.alloc_micros < backward_start)


def test_the_step_keeps_no_normalized_kernel(graph, rng):
    """Kept kernels stay alive from the forward pass into the backward
    pass; recomputed ones do not."""
    x = tf.constant(rng.normal(size=(8, 8, 8, CHANNELS)).astype(np.float32))
    activation_bytes = 8 * 8 * 8 * CHANNELS * 4
    losses = {"plain": _net(x, lambda h, s: _plain(h, "plain/" + s)),
              "kept": _net(x, lambda h, s: _wn(h, "kept/" + s))}
    with tf1_wn.recompute_kernels():
        losses["recomputed"] = _net(x, lambda h, s: _wn(h, "re/" + s))
    steps = {name: tf.train.GradientDescentOptimizer(0.1).minimize(
        loss, var_list=tf.trainable_variables(
            {"plain": "plain", "kept": "kept", "recomputed": "re"}[name]))
        for name, loss in losses.items()}
    # Counted, not read off the step's peak: the peak also holds the
    # convolutions' temporaries, megabytes whose timing varies from run to
    # run.  Only kernels (and their gradients) have this size.
    kernel_bytes = 3 * 3 * CHANNELS * CHANNELS * 4
    config = tf.ConfigProto(inter_op_parallelism_threads=1,
                            intra_op_parallelism_threads=1)
    with tf.Session(config=config) as sess:
        sess.run(tf.global_variables_initializer())
        kept = {name: [_kernels_kept_into_backward(sess, step, kernel_bytes,
                                                   activation_bytes)
                       for _ in range(3)]
                for name, step in steps.items()}
    # The first layer's input is a constant: no input gradient, so its
    # kernel goes after the forward conv; the other seven stay.
    assert kept == {"plain": [0] * 3, "kept": [LAYERS - 1] * 3,
                    "recomputed": [0] * 3}, kept


def _ancestors(tensor):
    seen, stack = set(), [tensor.op]
    while stack:
        op = stack.pop()
        if op not in seen:
            seen.add(op)
            stack.extend(t.op for t in op.inputs)
            stack.extend(op.control_inputs)
    return seen


def test_the_recomputation_waits_for_the_upstream_gradient(graph, rng):
    x = tf.constant(rng.normal(size=(2, 5, 5, 3)))
    with tf1_wn.recompute_kernels():
        y = tf1_wn.conv2d(x, 4, 3, scope="a")
    upstream = tf.cos(y)   # what reaches the layer's gradient
    tf.gradients(y, tf.trainable_variables(), grad_ys=upstream)
    input_grads = [op for op in graph.get_operations()
                   if op.type == "Conv2DBackpropInput"]
    assert len(input_grads) == 1
    kernel = input_grads[0].inputs[1]
    assert kernel.op.name.startswith("gradients/")   # not the forward one
    assert upstream.op in _ancestors(kernel)


def _train(rng_seed, recompute, steps=5):
    """Five Adam steps of a two-layer float64 net; the losses."""
    r = np.random.default_rng(rng_seed)
    with tf.Graph().as_default():
        x = tf.constant(r.normal(size=(4, 6, 6, 3)))
        init = tf.constant_initializer
        with tf1_wn.recompute_kernels(recompute):
            h = tf1_wn.conv2d(x, 5, 3, activation=tf.nn.relu, scope="a",
                              kernel_initializer=init(
                                  r.normal(size=(3, 3, 3, 5))))
            h = tf1_wn.conv2d_transpose(h, 2, 3, strides=2, scope="b",
                                        kernel_initializer=init(
                                            r.normal(size=(3, 3, 2, 5))))
        loss = tf.reduce_mean(tf.square(h - 0.5))
        step = tf.train.AdamOptimizer(0.05).minimize(loss)
        with tf.Session() as sess:
            sess.run(tf.global_variables_initializer())
            return [sess.run([loss, step])[0] for _ in range(steps)]


def test_training_follows_the_same_path(rng):
    seed = int(rng.integers(1 << 30))
    kept, recomputed = _train(seed, False), _train(seed, True)
    assert recomputed[-1] < 0.9 * recomputed[0]
    np.testing.assert_allclose(recomputed, kept, rtol=1e-10)


def _exported_conv(rng, recomputing):
    """A float64 WN conv without bias from placeholder ``x`` to ``y``,
    exported as a MetaGraph; with the values of x, v and g drawn."""
    x_value = rng.normal(size=(2, 5, 5, 3))
    v = rng.normal(size=(3, 3, 3, 4))
    g = rng.uniform(0.5, 1.5, size=4)
    with tf.Graph().as_default():
        x = tf.placeholder(tf.float64, x_value.shape, name="x")
        with tf1_wn.recompute_kernels(recomputing):
            y = tf1_wn.conv2d(x, 4, 3, use_bias=False, scope="a",
                              kernel_initializer=tf.constant_initializer(v),
                              g_initializer=tf.constant_initializer(g))
        tf.identity(y, name="y")
        exported = tf.train.export_meta_graph()
    return exported, x_value, v, g


def _conv_input_gradient(x_value, v, g):
    """Float64 central differences of ``sum(sin(y))`` with respect to x,
    for `_exported_conv`'s ``y``."""
    w = ref.weight_norm(v, g, [0, 1, 2])
    upstream = np.cos(ref.conv(x_value, w, (1, 1), "SAME"))
    return ref.numeric_gradient(
        lambda t: np.sum(upstream * ref.conv(t, w, (1, 1), "SAME")),
        x_value.copy())


def test_a_graph_imported_from_a_metagraph_still_differentiates(rng):
    """The rebuilding code is not in a MetaGraph: the gradient then goes
    through the forward ops, with the same values."""
    exported, x_value, v, g = _exported_conv(rng, recomputing=True)
    with tf.Graph().as_default():
        tf.train.import_meta_graph(exported)
        graph = tf.get_default_graph()
        x = graph.get_tensor_by_name("x:0")
        y = graph.get_tensor_by_name("y:0")
        d_x = tf.gradients(tf.reduce_sum(tf.sin(y)), x)[0]
        with tf.Session() as sess:
            sess.run(tf.global_variables_initializer())
            got = sess.run(d_x, {x: x_value})
    np.testing.assert_allclose(got, _conv_input_gradient(x_value, v, g),
                               rtol=1e-7, atol=1e-8)


IMPORT_AND_DIFFERENTIATE = """
import sys
import numpy as np
import tensorflow.compat.v1 as tf
tf.disable_eager_execution()
tf.train.import_meta_graph(sys.argv[1])
graph = tf.get_default_graph()
x, y = graph.get_tensor_by_name("x:0"), graph.get_tensor_by_name("y:0")
try:
    d_x = tf.gradients(tf.reduce_sum(tf.sin(y)), x)[0]
except LookupError as error:
    sys.exit("LookupError: " + str(error))
assert "tf1_wn" not in sys.modules
with tf.Session() as sess:
    sess.run(tf.global_variables_initializer())
    np.save(sys.argv[2], sess.run(d_x, {x: np.load(sys.argv[3])}))
"""


@pytest.mark.parametrize("recomputing", [False, True])
def test_a_metagraph_differentiates_in_a_program_without_tf1_wn(
        tmp_path, rng, implementation, recomputing):
    """Exported on the composed path, a graph differentiates where tf1-wn
    is not imported, unless its layers recompute: their gradient is
    registered by tf1-wn (README, "Memory").  On the native path the graph
    needs tf1-wn's ops anyway."""
    if implementation == "native":
        pytest.skip("native ops need tf1-wn loaded to run at all")
    exported, x_value, v, g = _exported_conv(rng, recomputing)
    (tmp_path / "graph.meta").write_bytes(exported.SerializeToString())
    np.save(tmp_path / "x.npy", x_value)
    result = run_python(
        "import sys; sys.argv[1:] = %r\n" % [
            str(tmp_path / name) for name in ("graph.meta", "d_x.npy",
                                              "x.npy")]
        + IMPORT_AND_DIFFERENTIATE)
    if recomputing:
        assert result.returncode != 0
        assert "LookupError" in result.stderr, result.stderr[-2000:]
        assert "IdentityN" in result.stderr
        return
    assert result.returncode == 0, result.stderr[-2000:]
    np.testing.assert_allclose(np.load(tmp_path / "d_x.npy"),
                               _conv_input_gradient(x_value, v, g),
                               rtol=1e-7, atol=1e-8)


def _looped_loss(x, v, g, b, times):
    """Float64 NumPy: ``sum(sin(h))`` after `times` applications of
    ``h = tanh(conv(h, weight_norm(v, g)) + b)`` from ``h = x``."""
    h = x
    for _ in range(times):
        h = np.tanh(ref.conv(h, ref.weight_norm(v, g, [0, 1, 2], 1e-12),
                             (1, 1), "SAME") + b)
    return np.sin(h).sum()


@pytest.mark.parametrize("imported", [False, True])
@pytest.mark.parametrize("control_flow", ["v1", "v2"])
@pytest.mark.parametrize("structure", ["while_loop", "cond"])
def test_layers_in_control_flow_get_every_gradient(rng, control_flow,
                                                   structure, imported):
    """A recomputing layer inside ``tf.while_loop`` or ``tf.cond``, TF1's
    control flow (v1) or TF2's (v2), as built or imported from its
    MetaGraph: the input's and every variable's gradient against float64
    central differences.  (Differentiating with respect to the forward
    tensors from inside the gradient's context gave no path there: a zero
    input gradient in branches, None for the variables in v1 loops.)"""
    x_value = rng.normal(size=(2, 4, 4, 2))
    v = rng.normal(size=(3, 3, 2, 2))
    g = rng.uniform(0.5, 1.5, size=2)
    b = rng.normal(scale=0.1, size=2)
    times = 3 if structure == "while_loop" else 1
    with control_flow_version(control_flow):
        with tf.Graph().as_default() as graph:
            x = tf.constant(x_value, name="x")

            def layer(h):
                with tf1_wn.recompute_kernels():
                    return tf1_wn.conv2d(
                        h, 2, 3, activation=tf.tanh, scope="a",
                        kernel_initializer=tf.constant_initializer(v),
                        g_initializer=tf.constant_initializer(g),
                        bias_initializer=tf.constant_initializer(b))

            if structure == "while_loop":
                _, y = tf.while_loop(lambda i, h: i < times,
                                     lambda i, h: (i + 1, layer(h)), [0, x])
            else:
                y = tf.cond(tf.constant(True), lambda: layer(x),
                            lambda: x)
            tf.identity(y, name="y")
            recomputing = [op for op in graph.get_operations()
                           if op.type == "IdentityN"]
        if imported:
            graph = tf.Graph()
            with graph.as_default():
                tf.train.import_meta_graph(
                    tf.train.export_meta_graph(graph=y.graph))
        with graph.as_default():
            x, y = (graph.get_tensor_by_name(name) for name in ("x:0", "y:0"))
            variables = tf.trainable_variables()
            grads = tf.gradients(tf.reduce_sum(tf.sin(y)), variables + [x])
            with tf.Session() as sess:
                sess.run(tf.global_variables_initializer())
                got = dict(zip(["v", "g", "b", "x"], sess.run(grads)))
    assert [var.op.name for var in variables] == ["a/v", "a/g", "a/bias"]
    if control_flow == "v1":   # v2 bodies are functions, not graph ops
        assert len(recomputing) == 1
    arrays = dict(x=x_value, v=v, g=g, b=b)
    for name, value in arrays.items():
        expected = ref.numeric_gradient(
            lambda t, name=name: _looped_loss(
                times=times, **dict(arrays, **{name: t})), value.copy())
        np.testing.assert_allclose(got[name], expected, rtol=1e-6,
                                   atol=1e-8, err_msg=name)


def test_scopes_nest_and_restore():
    from tf1_wn.layers import recompute
    assert not recompute.active()
    with tf1_wn.recompute_kernels():
        assert recompute.active()
        with tf1_wn.recompute_kernels(False):
            assert not recompute.active()
        assert recompute.active()
    assert not recompute.active()


def test_enabled_must_be_a_bool():
    with pytest.raises(TypeError, match=r"`enabled` must be True or False, "
                       "got 'yes'"):
        with tf1_wn.recompute_kernels("yes"):
            pass


def test_ws_layer_without_gain_recomputes(graph, rng):
    """A weight-standardized conv with no gain: the kernel alone is
    recomputed; its gradient matches the kept-kernel graph's."""
    x = tf.constant(rng.normal(size=(2, 5, 5, 3)))
    init = tf.constant_initializer(rng.normal(size=(3, 3, 3, 4)))
    kept = tf1_wn.ws_conv2d(x, 4, 3, scope="a", kernel_initializer=init)
    with tf1_wn.recompute_kernels():
        recomputed = tf1_wn.ws_conv2d(x, 4, 3, scope="a",
                                      kernel_initializer=init)
    kernel = tf.trainable_variables("a/kernel")
    assert len(kernel) == 1
    grads = [tf.gradients(tf.reduce_sum(tf.sin(y)), kernel + [x])
             for y in (kept, recomputed)]
    with tf.Session() as sess:
        sess.run(tf.global_variables_initializer())
        kept_grads, recomputed_grads = sess.run(grads)
    for a, b in zip(kept_grads, recomputed_grads):
        assert np.abs(a).max() > 0
        np.testing.assert_allclose(b, a, rtol=1e-10, atol=1e-12)
