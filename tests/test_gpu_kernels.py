"""Every op of every graph tf1-wn builds for a GPU has a GPU kernel for its
dtypes, by TensorFlow's own kernel registry (no GPU needed).

Graphs are built under ``tf.device('/GPU:0')``, which selects the GPU path
per layer (`tf1_wn.placement`): composed ops, NCHW, the convs' own
dilations.  tensorflow-cpu registers no GPU kernels, so there the test
skips; `make test-gpu-kernels` runs it with the full ``tensorflow`` wheel
(the legacy-Keras virtualenv has it), as CI does."""
import os

import pytest
import tensorflow.compat.v1 as tf
from tensorflow.python.framework import kernels
from tf_slim import arg_scope

import tf1_wn
from tf1_wn.layers import recompute as recompute_lib
from tf1_wn.compat import lasagne
from tf1_wn.compat.lasagne import layers as L

_HAS_GPU_KERNELS = any(
    k.device_type == "GPU"
    for k in kernels.get_registered_kernels_for_op("Conv2D").kernel)
if not _HAS_GPU_KERNELS and os.environ.get("TF1_WN_REQUIRE_GPU_KERNELS"):
    raise RuntimeError(
        "TF1_WN_REQUIRE_GPU_KERNELS is set but the installed TensorFlow "
        "registers no GPU kernels: install the full tensorflow wheel, not "
        "tensorflow-cpu.")
pytestmark = pytest.mark.skipif(
    not _HAS_GPU_KERNELS,
    reason="the installed TensorFlow has no GPU kernels (tensorflow-cpu); "
    "`make test-gpu-kernels` runs this with the full tensorflow wheel")

#: Ops TensorFlow keeps on the host by design, never given a GPU kernel:
#: graph inputs and checkpoint I/O, which a Saver places on the CPU.
HOST_OPS = {"Placeholder", "PlaceholderWithDefault", "SaveV2", "RestoreV2",
            "MergeV2Checkpoints", "ShardedFilename", "StringJoin"}


def _type_allowed(attr, allowed):
    if attr.HasField("type"):
        return attr.type in allowed
    if attr.HasField("list"):
        return all(t in allowed for t in attr.list.type)
    return True


def _gpu_kernel_for(op):
    """A GPU kernel, or a DEFAULT one (TensorFlow's kernels for any device,
    e.g. int32 shape arithmetic in host memory), allowing op's dtypes."""
    for kernel in kernels.get_registered_kernels_for_op(op.type).kernel:
        if kernel.device_type not in ("GPU", "DEFAULT"):
            continue
        if all(c.name not in op.node_def.attr or not c.allowed_values.list.type
               or _type_allowed(op.node_def.attr[c.name],
                                c.allowed_values.list.type)
               for c in kernel.constraint):
            return True
    return False


def _missing(graph):
    return sorted({f"{op.type} ({op.name})" for op in graph.get_operations()
                   if op.type not in HOST_OPS and not _gpu_kernel_for(op)})


def _layers(x, init=False, ema=None):
    with arg_scope([tf1_wn.conv2d, tf1_wn.conv2d_transpose,
                    tf1_wn.depthwise_conv2d, tf1_wn.dense, tf1_wn.nin,
                    tf1_wn.conv1d, tf1_wn.conv3d], init=init, ema=ema):
        h = tf1_wn.conv2d(x, 4, 3, data_format="NCHW", scope="nchw")
        h = tf1_wn.conv2d(h, 4, 3, dilation_rate=2, data_format="NCHW",
                          scope="dilated")
        h = tf1_wn.depthwise_conv2d(h, 3, data_format="NCHW", scope="dw")
        h = tf.transpose(h, [0, 2, 3, 1])
        h = tf1_wn.conv2d_transpose(h, 4, 3, strides=2, scope="up")
        for variant in ("paper", "bit", "timm"):
            h = tf1_wn.ws_conv2d(h, 4, 3, variant=variant, gain=True,
                                 ema=ema, scope="ws_" + variant)
        h = tf1_wn.ws_depthwise_conv2d(h, 3, ema=ema, scope="ws_dw")
        h = tf1_wn.ws_conv2d_transpose(h, 4, 2, strides=2, ema=ema,
                                       scope="ws_up")
        h = tf1_wn.nin(h, 4, scope="nin")
        h1 = tf1_wn.conv1d(tf.reshape(h, [-1, 36 * 36, 4]), 3, 3,
                           scope="c1")
        h3 = tf1_wn.conv3d(tf.reshape(h, [-1, 6, 6, 36, 4]), 3, 3,
                           scope="c3")
        flat = tf.concat(
            [tf.reduce_mean(h1, 1), tf.reduce_mean(h3, [1, 2, 3])], 1)
        return tf1_wn.dense(flat, 5, scope="dense")


def _cells(x):
    cells = [cell(4, variable_dtype=tf.float32) for cell in (
        tf1_wn.WeightNormRNNCell, tf1_wn.WeightNormGRUCell,
        tf1_wn.WeightNormLSTMCell)]
    outputs, _ = tf1_wn.dynamic_rnn(tf1_wn.MultiRNNCell(cells), x,
                                    dtype=x.dtype, init=True)
    plain, _ = tf.nn.dynamic_rnn(tf1_wn.MultiRNNCell(cells), x,
                                 dtype=x.dtype)
    return tf.reduce_mean(plain) + 0 * tf.reduce_mean(outputs)


def _lasagne(x):
    layer = L.InputLayer((2, 3, 8, 8), input_var=x)
    layer = lasagne.weight_norm(L.Conv2DLayer(layer, 4, 3, pad=1))
    layer = L.MaxPool2DLayer(layer, 2)
    layer = L.Deconv2DLayer(layer, (2, 3, 8, 8), (5, 5))
    layer = lasagne.weight_norm(L.DenseLayer(layer, 3))
    lasagne.get_output(layer, init=True)
    return tf.reduce_mean(lasagne.get_output(layer))


@pytest.mark.parametrize("recompute", [False, True],
                         ids=["kept_kernel", "recomputed_kernel"])
@pytest.mark.parametrize("dtype", [tf.float32, tf.float16, tf.bfloat16])
def test_every_gpu_graph_has_gpu_kernels(graph, dtype, recompute):
    with tf.device("/GPU:0"), tf1_wn.recompute_kernels(recompute):
        with arg_scope([tf1_wn.conv2d, tf1_wn.conv2d_transpose,
                        tf1_wn.depthwise_conv2d, tf1_wn.dense, tf1_wn.nin,
                        tf1_wn.conv1d, tf1_wn.conv3d, tf1_wn.ws_conv2d,
                        tf1_wn.ws_depthwise_conv2d,
                        tf1_wn.ws_conv2d_transpose],
                       variable_dtype=tf.float32):
            model = tf.make_template("model", _layers)
            x = tf.zeros([2, 3, 9, 9], dtype)
            model(x, init=True)
            loss = tf.reduce_mean(tf.cast(model(x), tf.float32))
            ema = tf.train.ExponentialMovingAverage(0.99)
            maintain = ema.apply(tf.trainable_variables())
            averaged = model(x, ema=ema)
        loss += tf.cast(_cells(tf.zeros([2, 5, 3], dtype)), tf.float32)
        if dtype == tf.float32:   # Theano's floatX: no half types here
            loss += _lasagne(tf.zeros([2, 3, 8, 8]))
        step = tf.group(tf.train.AdamOptimizer().minimize(loss), maintain)
        tf.group(tf1_wn.init_op(), tf1_wn.sync_ema(ema), step,
                 tf.reduce_mean(averaged))
    assert bool(recompute_lib._REBUILDERS.get(graph)) == recompute
    assert _missing(graph) == []


def test_the_check_finds_a_cpu_only_op(graph):
    """The registry check itself: an op with no GPU kernel is reported."""
    with tf.device("/GPU:0"):
        tf.strings.regex_full_match(tf.constant(["a"]), "a")
    assert any("RegexFullMatch" in entry for entry in _missing(graph))


def test_bfloat16_variables_have_no_gpu_adam(graph):
    """Why `variable_dtype=tf.float32`: Adam has no bfloat16 GPU kernel."""
    with tf.device("/GPU:0"):
        out = tf1_wn.dense(tf.zeros([2, 3], tf.bfloat16), 2)
        tf.train.AdamOptimizer().minimize(
            tf.reduce_mean(tf.cast(out, tf.float32)))
    assert any(entry.startswith("ResourceApplyAdam")
               for entry in _missing(graph))
