"""Every documented import path, name and graph-visible string stays, the
error tree is what the docs say, and ``help()`` shows every argument."""
import importlib
import importlib.metadata
import inspect
import pydoc
import re

import pytest
import tensorflow.compat.v1 as tf
from tensorflow.python.framework import ops as tf_ops

import tf1_wn

#: Paths the README, docs/ and the API contract document, with the names
#: each must provide.
DOCUMENTED = {
    "tf1_wn": tf1_wn.__all__,
    "tf1_wn.layers": [
        "dense", "nin", "conv1d", "conv2d", "conv3d", "conv2d_transpose",
        "depthwise_conv2d", "WeightNormDense", "WeightNormConv2D",
        "ws_conv2d", "WeightStandardizedConv2D", "recompute_kernels"],
    "tf1_wn.rnn": ["WeightNormRNNCell", "WeightNormGRUCell",
                   "WeightNormLSTMCell", "MultiRNNCell", "LSTMStateTuple"],
    "tf1_wn.checkpoint": [
        "convert", "fold", "inspect", "convert_checkpoint",
        "fold_checkpoint", "inspect_checkpoint",
        "assign_from_kernel", "assign_cell_from_kernel", "folded_kernel",
        "folded_cell_kernel", "kernel_norm", "Plan", "Step", "HINT_KINDS",
        "WS_VARIANTS", "CheckpointError", "CheckpointNotFoundError",
        "OutputExistsError", "AmbiguousLayoutError", "NameCollisionError",
        "InvalidLayoutError", "UnsupportedVariableError",
        "CheckpointWarning"],
    "tf1_wn.native_ops": ["library", "build", "get_mode", "set_mode",
                          "cache_dir", "library_path", "compiler_available",
                          "NativeOpsError", "MODES"],
    "tf1_wn.cli": ["main", "build_parser"],
    "tf1_wn.compat.lasagne": [
        "layers", "nn", "init", "nonlinearities", "updates", "random",
        "DenseLayer", "Conv2DLayer", "InputLayer", "get_output",
        "get_all_params", "set_floatX", "get_floatX", "objectives",
        "utils", "Givens"],
    "tf1_wn.compat.lasagne.nn": ["weight_norm", "adam_updates",
                                 "batch_norm", "MinibatchLayer",
                                 "DenseLayer", "l2normalize",
                                 "log_sum_exp"],
    "tf1_wn.compat.lasagne.weightnorm_nn": [
        "weight_norm", "mean_only_bn", "batch_norm", "no_norm",
        "GlobalAvgLayer", "adam_updates", "adamax_updates", "softmax_loss",
        "lrelu", "ZCA"],
    "tf1_wn.compat.lasagne.utils": ["floatX", "as_tuple"],
    "tf1_wn.compat.lasagne.layers": ["DenseLayer", "get_output", "dnn"],
    "tf1_wn.compat.lasagne.init": ["Normal"],
    "tf1_wn.compat.lasagne.nonlinearities": ["rectify"],
    "tf1_wn.compat.lasagne.updates": ["adam", "apply_updates"],
    "tf1_wn.compat.lasagne.random": ["get_rng", "set_rng"],
}


@pytest.mark.parametrize("path", sorted(DOCUMENTED))
def test_documented_paths_import(path):
    module = importlib.import_module(path)
    missing = [name for name in DOCUMENTED[path] if not hasattr(module, name)]
    assert not missing, f"{path} lacks {missing}"


def test_all_lists_only_existing_names():
    for path in ("tf1_wn", "tf1_wn.layers", "tf1_wn.rnn",
                 "tf1_wn.checkpoint", "tf1_wn.compat.lasagne"):
        module = importlib.import_module(path)
        assert all(hasattr(module, name) for name in module.__all__), path


def test_top_level_and_subpackage_names_are_the_same_objects():
    from tf1_wn import layers, rnn
    assert layers.dense is tf1_wn.dense
    assert layers.WeightStandardizedConv2D is tf1_wn.WeightStandardizedConv2D
    assert rnn.WeightNormLSTMCell is tf1_wn.WeightNormLSTMCell


def test_console_script_points_at_cli_main():
    scripts = [ep for ep in importlib.metadata.entry_points(
        group="console_scripts") if ep.name == "tf1-wn"]
    assert [ep.value for ep in scripts] == ["tf1_wn.cli:main"]


def test_graph_visible_names_never_change():
    """Saved graphs hold these strings."""
    assert tf1_wn.INIT_OPS == "tf1_wn_init_ops"
    registered = set(tf_ops._gradient_registry.list())
    assert {"Tf1WnGain", "Tf1WnWeightNorm",
            "Tf1WnChannelScale"} <= registered


def test_variable_names_are_the_documented_ones(graph):
    x = tf.placeholder(tf.float32, [None, 3])
    tf1_wn.dense(x, 2, scope="wn")
    tf1_wn.ws_conv2d(tf.placeholder(tf.float32, [None, 4, 4, 3]), 2, 3,
                     gain=True, scope="ws")
    cell = tf1_wn.WeightNormLSTMCell(2, name="cell")
    cell(x, cell.zero_state(1, tf.float32))
    names = sorted(v.op.name for v in tf.global_variables())
    assert names == [
        "cell/bias", "cell/input/g", "cell/input/v", "cell/recurrent/g",
        "cell/recurrent/v", "wn/bias", "wn/g", "wn/v", "ws/bias", "ws/gain",
        "ws/kernel"]


# -- the error tree -------------------------------------------------------

@pytest.mark.parametrize("error,builtin", [
    (tf1_wn.NotConnectedError, RuntimeError),
    (tf1_wn.LayoutError, ValueError),
    (tf1_wn.CheckpointError, ValueError),
    (tf1_wn.NativeOpsError, RuntimeError),
])
def test_error_tree(error, builtin):
    assert issubclass(error, tf1_wn.Error)
    assert issubclass(error, builtin)


def test_errors_come_from_the_tree():
    assert tf1_wn.checkpoint.CheckpointError is tf1_wn.CheckpointError
    assert tf1_wn.native_ops.NativeOpsError is tf1_wn.NativeOpsError
    for name in ("CheckpointNotFoundError", "OutputExistsError",
                 "AmbiguousLayoutError", "NameCollisionError",
                 "InvalidLayoutError", "UnsupportedVariableError"):
        assert issubclass(getattr(tf1_wn.checkpoint, name),
                          tf1_wn.CheckpointError), name
    assert issubclass(tf1_wn.checkpoint.InvalidLayoutError,
                      tf1_wn.LayoutError)


def test_layer_object_before_its_first_call_raises_not_connected(graph):
    layer = tf1_wn.WeightNormConv2D(4, 3)
    with pytest.raises(tf1_wn.NotConnectedError,
                       match=r"'conv2d' has no variables yet: call the "
                       r"layer on an input first"):
        layer.v  # noqa: B018 (the property raises)


def test_missing_checkpoint_is_a_checkpoint_error(tmp_path):
    with pytest.raises(tf1_wn.Error, match="not found"):
        tf1_wn.checkpoint.inspect_checkpoint(str(tmp_path / "none.ckpt"))


# -- help() shows every argument --------------------------------------------

_FUNCTIONS = [tf1_wn.dense, tf1_wn.nin, tf1_wn.conv1d, tf1_wn.conv2d,
              tf1_wn.conv3d, tf1_wn.conv2d_transpose,
              tf1_wn.depthwise_conv2d, tf1_wn.ws_conv1d, tf1_wn.ws_conv2d,
              tf1_wn.ws_conv3d, tf1_wn.ws_conv2d_transpose,
              tf1_wn.ws_depthwise_conv2d, tf1_wn.init_op, tf1_wn.sync_ema]
_WN_OBJECTS = [tf1_wn.WeightNormDense, tf1_wn.WeightNormConv1D,
               tf1_wn.WeightNormConv2D, tf1_wn.WeightNormConv3D,
               tf1_wn.WeightNormConv2DTranspose,
               tf1_wn.WeightNormDepthwiseConv2D]
_WS_OBJECTS = [tf1_wn.WeightStandardizedConv1D,
               tf1_wn.WeightStandardizedConv2D,
               tf1_wn.WeightStandardizedConv3D,
               tf1_wn.WeightStandardizedConv2DTranspose,
               tf1_wn.WeightStandardizedDepthwiseConv2D]
_CELLS = [tf1_wn.WeightNormRNNCell, tf1_wn.WeightNormGRUCell,
          tf1_wn.WeightNormLSTMCell, tf1_wn.MultiRNNCell]


def _documented_arguments(obj):
    """Argument names listed as ``name:`` entries of the Args section(s) of
    what ``help(obj)`` prints (``a, b: text`` lists several)."""
    text = pydoc.render_doc(obj, renderer=pydoc.plaintext)
    names = set()
    for match in re.finditer(r"^[\s|]+([\w, ]+):", text, re.M):
        names.update(part.strip() for part in match.group(1).split(","))
    return names, text


def _parameters(function):
    return [name for name, p in inspect.signature(function).parameters.items()
            if name != "self" and p.kind not in (p.VAR_KEYWORD,
                                                 p.VAR_POSITIONAL)]


@pytest.mark.parametrize("function", _FUNCTIONS, ids=lambda f: f.__name__)
def test_help_of_every_layer_function_lists_every_argument(function):
    documented, text = _documented_arguments(function)
    missing = set(_parameters(function)) - documented
    assert not missing, f"help({function.__name__}) lacks {missing}"
    assert "{" not in text.split("Returns")[0] or "{v,g}" in text
    assert "see the module docstring" not in text


@pytest.mark.parametrize("cls", _WN_OBJECTS + _WS_OBJECTS + _CELLS,
                         ids=lambda c: c.__name__)
def test_help_of_every_object_lists_every_argument(cls):
    documented, text = _documented_arguments(cls)
    wanted = set(_parameters(cls.__init__))
    # The objects take the shared options by keyword (**options): the ones
    # their base class accepts.
    if cls in _WN_OBJECTS or cls in _WS_OBJECTS:
        wanted |= set(_parameters(cls.__mro__[1].__init__)) - {"geometry"}
    missing = wanted - documented
    assert not missing, f"help({cls.__name__}) lacks {missing}"
    assert "see the module docstring" not in text


def test_help_of_the_weight_norm_arguments_says_what_they_do():
    _, text = _documented_arguments(tf1_wn.conv2d)
    for phrase in ("init_scale: positive target standard deviation",
                   "ema: a `tf.compat.v1.train.ExponentialMovingAverage`",
                   "eps: non-negative number added to the sum of squares",
                   "trainable_g: when False",
                   "init: data-dependent init mode"):
        assert phrase in text
