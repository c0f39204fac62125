"""Per-layer device decisions (`tf1_wn.placement`): native kernels and
channels-last transposes for CPU-placed layers, composed ops, NCHW and the
ops' own dilations for GPU-placed ones, whatever process builds the graph.
No GPU is reachable here: graphs are built for ``/GPU:0`` on this CPU host
and inspected, and a GPU process is faked where the default placement
matters."""
import numpy as np
import pytest
import tensorflow.compat.v1 as tf

import tf1_wn
from tf1_wn import native_ops, placement
from tf1_wn.compat import lasagne


def _types(graph):
    return [op.type for op in graph.get_operations()]


def _conv_stack(x):
    h = tf1_wn.conv2d(x, 4, 3, data_format="NCHW", scope="nchw")
    h = tf1_wn.conv2d(h, 4, 3, dilation_rate=2, data_format="NCHW",
                      scope="dilated")
    h = tf1_wn.depthwise_conv2d(h, 3, data_format="NCHW", scope="dw")
    return tf1_wn.ws_conv2d(h, 4, 3, data_format="NCHW", scope="ws")


@pytest.fixture
def native_on():
    if not native_ops.compiler_available():
        pytest.skip("no C++ compiler for the native kernels")
    previous = native_ops.set_mode("auto")
    yield
    native_ops.set_mode(previous)


@pytest.mark.usefixtures("native_on")
def test_a_gpu_graph_built_on_a_cpu_host(graph):
    with tf.device("/GPU:0"):
        out = _conv_stack(tf.zeros([2, 3, 9, 9]))
        tf.gradients(tf.reduce_sum(out), tf.trainable_variables())
    types = _types(graph)
    assert not [t for t in types if t.startswith("Tf1Wn")]
    assert "Transpose" not in types
    assert "SpaceToBatchND" not in types
    dilated = [op for op in graph.get_operations() if op.type == "Conv2D"
               and op.get_attr("dilations") == [1, 1, 2, 2]]
    assert dilated and all(op.get_attr("data_format") == b"NCHW"
                           for op in dilated)


@pytest.mark.usefixtures("native_on")
def test_the_same_graph_placed_on_the_cpu(graph):
    with tf.device("/cpu:0"):
        _conv_stack(tf.zeros([2, 3, 9, 9]))
    types = _types(graph)
    assert "Tf1WnNormalizeWeight" in types
    assert "Tf1WnStandardizeWeight" in types
    assert "Transpose" in types
    assert "SpaceToBatchND" in types   # CPU: no dilated conv gradients


@pytest.mark.usefixtures("native_on")
@pytest.mark.parametrize("device,native", [("/GPU:0", False),
                                           ("/cpu:0", True)])
def test_output_scaled_dense_layers_follow_their_device(graph, device,
                                                        native):
    with tf.device(device):
        out = tf1_wn.dense(tf.zeros([2, 7]), 9, scope="fc")  # 2 rows < 7
        tf.gradients(tf.reduce_sum(out), tf.trainable_variables())
    fused = {"Tf1WnNormFactor", "Tf1WnScaleColumns", "Tf1WnScaleColumnsGrad",
             "Tf1WnScaledProductGrad"}
    types = _types(graph)
    if native:
        assert fused <= set(types)
    else:
        assert not [t for t in types if t.startswith("Tf1Wn")]


@pytest.fixture
def fake_gpu_process(monkeypatch):
    """A process that sees one GPU (TensorFlow's own lists faked)."""
    gpu = tf.config.PhysicalDevice("/physical_device:GPU:0", "GPU")
    real = tf.config.list_physical_devices
    monkeypatch.setattr(tf.config, "list_physical_devices",
                        lambda kind=None: [gpu] if kind == "GPU"
                        else real(kind))
    monkeypatch.setattr(tf.config, "get_visible_devices",
                        lambda kind=None: [gpu] if kind == "GPU" else [])
    return monkeypatch


@pytest.mark.usefixtures("native_on")
def test_in_a_gpu_process_only_cpu_placed_layers_go_native(
        graph, fake_gpu_process):
    assert placement.gpu_visible()
    tf1_wn.conv2d(tf.zeros([2, 5, 5, 3]), 4, 3, scope="default")
    assert "Tf1WnNormalizeWeight" not in _types(graph)  # default: the GPU
    with tf.device("/cpu:0"):                            # a CPU eval tower
        tf1_wn.conv2d(tf.zeros([2, 5, 5, 3]), 4, 3, scope="cpu")
    natives = [op for op in graph.get_operations()
               if op.type == "Tf1WnNormalizeWeight"]
    assert natives and all("cpu" in op.name for op in natives)


def test_hidden_gpus_count_as_none(fake_gpu_process):
    fake_gpu_process.setattr(tf.config, "get_visible_devices",
                             lambda kind=None: [])
    assert not placement.gpu_visible()


def test_device_type_of_the_scope(graph):
    assert placement.device_type() is None
    with tf.device("/job:worker/task:1"):
        assert placement.device_type() is None
    with tf.device("/device:GPU:1"):
        assert placement.device_type() == "GPU"
        assert placement.runs_on_gpu()
    with tf.device(tf.train.replica_device_setter(
            ps_tasks=1, worker_device="/job:worker/task:0/device:GPU:0")):
        assert placement.runs_on_gpu()


def test_lasagne_mirror_runs_nchw_on_gpu_placed_layers(graph):
    def network():
        layer = lasagne.layers.InputLayer((2, 3, 8, 8))
        layer = lasagne.layers.Conv2DLayer(layer, 4, 3, pad=1)
        layer = lasagne.layers.MaxPool2DLayer(layer, 2)
        layer = lasagne.layers.Deconv2DLayer(layer, (2, 3, 8, 8), (5, 5))
        return lasagne.layers.get_output(layer)
    with tf.device("/GPU:0"):
        network()
    # the weights' layout transposes (O(parameters)) remain; none of a
    # batch of activations (first dimension 2)
    moved = [op.name for op in graph.get_operations()
             if op.type == "Transpose" and op.inputs[0].shape[0] == 2]
    assert not moved, moved
    formats = {op.get_attr("data_format") for op in graph.get_operations()
               if op.type in ("Conv2D", "MaxPool", "Conv2DBackpropInput")}
    assert formats == {b"NCHW"}


def test_gpu_path_numbers_equal_the_cpu_path(rng):
    """The ops a GPU-placed layer builds, run here on the CPU (soft
    placement; oneDNN runs NCHW and dilations): the same numbers."""
    x_value = rng.normal(size=(2, 3, 9, 9)).astype(np.float32)

    def run(device):
        with tf.Graph().as_default():
            tf.set_random_seed(4)
            with tf.device(device):
                x = tf.constant(x_value)
                out = _conv_stack(x)
                grad = tf.gradients(tf.reduce_sum(tf.square(out)), x)[0]
            config = tf.ConfigProto(allow_soft_placement=True)
            with tf.Session(config=config) as sess:
                sess.run(tf.global_variables_initializer())
                return sess.run([out, grad])
    try:
        gpu = run("/GPU:0")
    except tf.errors.InvalidArgumentError as error:
        pytest.skip(f"this CPU build lacks an NCHW/dilated kernel: {error}")
    for got, want in zip(gpu, run("/cpu:0")):   # float32 rounding apart
        np.testing.assert_allclose(got, want, rtol=1e-4,
                                   atol=1e-6 * np.abs(want).max())


def test_load_works_in_every_mode():
    if not native_ops.compiler_available():
        pytest.skip("no C++ compiler for the native kernels")
    previous = native_ops.set_mode("off")
    try:
        assert native_ops.library() is None
        assert hasattr(native_ops.load(), "tf1_wn_normalize_weight")
    finally:
        native_ops.set_mode(previous)
