"""tf1-wn: weight normalization and weight standardization for TF1 graphs.

Import TensorFlow's v1 API as usual (``import tensorflow.compat.v1 as tf``),
build in graph mode, and use:

* functional layers `dense`, `nin`, `conv1d`, `conv2d`, `conv3d`,
  `conv2d_transpose`, `depthwise_conv2d` (tf_slim ``arg_scope``-able);
* the same as objects: `WeightNormDense`, `WeightNormConv1D/2D/3D`,
  `WeightNormConv2DTranspose`, `WeightNormDepthwiseConv2D`;
* `recompute_kernels`: layers built inside it recompute their normalized
  kernel for the gradient instead of keeping it (less memory);
* data-dependent init: build with ``init=True``, then run `init_op()` once
  (`data_init_scaffold` does it once per run in MonitoredTrainingSession);
* `build_towers`: data init of a model built as towers, its statistics
  pooled over all of them; `ReplicatedDataInit`: once per run of a
  parameter-server cluster, pooled over the workers;
* `sync_ema` for Polyak averaging after init;
* recurrent cells `WeightNormRNNCell`, `WeightNormGRUCell`,
  `WeightNormLSTMCell` and `MultiRNNCell`; `dynamic_rnn` and
  `bidirectional_dynamic_rnn` with ``init=True`` for a whole recurrent
  model's init pass;
* weight-standardized convolutions `ws_conv*` / `WeightStandardizedConv*`;
* `checkpoint`: convert plain checkpoints to weight norm and fold them back;
* `native_ops`: the fused CPU kernels of the norm and the standardization;
* `Error` and its subclasses, the library's one error tree.

The Lasagne mirror is `tf1_wn.compat.lasagne`.

Module map (docs/design.md tells the same in more words):

======================  ==================================================
``normalization``       the weight-norm math: norms, closed-form
                        gradients, data-init statistics
``standardization``     the weight-standardization math
``kernel_kinds``        TF-free table: kernel kinds, their channel and
                        reduce axes, WS variants and their validator
``geometry``            per layer kind: kernel shape, input checks, the
                        op that applies a kernel
``validation``          argument checks shared by every builder
``data_init/``          ``collection`` (INIT_OPS, `init_op`,
                        `sync_ema`), ``towers`` (`build_towers`:
                        statistics pooled across towers), ``scaffold``
                        (`data_init_scaffold`: once per run),
                        ``replicas`` (`ReplicatedDataInit`: PS/worker
                        clusters), ``pooling`` (what layers call)
``native_ops``          build, cache and load the fused C++ kernels
                        (sources in ``native/``)
``errors``              the error tree
``processes``           whether a process runs (stale-temporary cleanup)
``docstrings``          the argument documentation layers and cells
                        share, attached with `docstrings.fill`
``variable_names``      the names of the variables tf1-wn creates
``layers/``             ``base`` (scope, checks, variables, layer-object
                        base), ``weight_norm``, ``weight_std``,
                        ``recompute`` (`recompute_kernels`),
                        ``slim_conventions`` (tf-slim's arguments)
``rnn/``                ``base`` (cell protocol, variables, data init),
                        ``cells``, ``multi``, ``drivers`` (`dynamic_rnn`
                        with an init mode)
``checkpoint/``         the offline tools: ``operations``, ``names``,
                        ``graph_evidence``/``layouts`` (layouts from
                        evidence), ``kernel_math``, ``plan``/
                        ``convert_plan``/``fold_plan``/``foreign_plan``,
                        ``inspection``, ``verification``, ``files``,
                        ``graph_ops``
``cli``                 the ``tf1-wn`` command
``quiet``               importing TensorFlow without its C++ start-up lines
``compat/lasagne/``     the Lasagne mirror (top-level ``compat/`` folder)
======================  ==================================================
"""
import importlib
import importlib.util

# Importing tf1_wn does not import TensorFlow: each public name is loaded
# from its module on first use (PEP 562), so ``tf1-wn --help`` and the
# error classes cost no TensorFlow start-up.  The table is the one list of
# where each public name lives.
from tf1_wn.errors import (CheckpointError, Error, LayoutError,
                           NativeOpsError, NotConnectedError)
from tf1_wn.version import __version__

_LAZY = {}
for _module, _names in (
        ("tf1_wn.data_init", ["INIT_OPS", "init_op", "sync_ema",
                              "data_init_scaffold", "build_towers",
                              "ReplicatedDataInit"]),
        ("tf1_wn.normalization", ["DEFAULT_EPS", "DATA_INIT_EPS"]),
        ("tf1_wn.layers", [
            "dense", "nin", "conv1d", "conv2d", "conv3d",
            "conv2d_transpose", "depthwise_conv2d", "WeightNormDense",
            "WeightNormConv1D", "WeightNormConv2D", "WeightNormConv3D",
            "WeightNormConv2DTranspose", "WeightNormDepthwiseConv2D",
            "ws_conv1d", "ws_conv2d", "ws_conv3d", "ws_conv2d_transpose",
            "ws_depthwise_conv2d", "WeightStandardizedConv1D",
            "WeightStandardizedConv2D", "WeightStandardizedConv3D",
            "WeightStandardizedConv2DTranspose",
            "WeightStandardizedDepthwiseConv2D", "recompute_kernels"]),
        ("tf1_wn.rnn", ["WeightNormRNNCell", "WeightNormGRUCell",
                        "WeightNormLSTMCell", "MultiRNNCell",
                        "LSTMStateTuple", "dynamic_rnn",
                        "bidirectional_dynamic_rnn"])):
    _LAZY.update(dict.fromkeys(_names, _module))
del _module, _names


def __getattr__(name):
    if name in _LAZY:
        # TensorFlow first, through the module whose ImportError says what
        # to install (tf_slim would otherwise fail first, less helpfully).
        importlib.import_module("tf1_wn._tf")
        value = getattr(importlib.import_module(_LAZY[name]), name)
    elif (not name.startswith("__")
          and importlib.util.find_spec("tf1_wn." + name) is not None):
        # Submodules (tf1_wn.checkpoint, tf1_wn.layers...), as before, when
        # the package imported them all.
        value = importlib.import_module("tf1_wn." + name)
    else:
        raise AttributeError("module 'tf1_wn' has no attribute %r" % name)
    globals()[name] = value
    return value


def __dir__():
    return sorted(set(globals()) | set(__all__))


__all__ = [
    "INIT_OPS", "init_op", "sync_ema", "data_init_scaffold", "build_towers",
    "ReplicatedDataInit",
    "dense", "nin", "conv1d", "conv2d", "conv3d", "conv2d_transpose",
    "depthwise_conv2d",
    "WeightNormDense", "WeightNormConv1D", "WeightNormConv2D",
    "WeightNormConv3D", "WeightNormConv2DTranspose",
    "WeightNormDepthwiseConv2D", "recompute_kernels",
    "DEFAULT_EPS", "DATA_INIT_EPS",
    "WeightNormRNNCell", "WeightNormGRUCell", "WeightNormLSTMCell",
    "MultiRNNCell", "LSTMStateTuple", "dynamic_rnn",
    "bidirectional_dynamic_rnn",
    "ws_conv1d", "ws_conv2d", "ws_conv3d", "ws_conv2d_transpose",
    "ws_depthwise_conv2d",
    "WeightStandardizedConv1D", "WeightStandardizedConv2D",
    "WeightStandardizedConv3D", "WeightStandardizedConv2DTranspose",
    "WeightStandardizedDepthwiseConv2D",
    "Error", "NotConnectedError", "LayoutError", "CheckpointError",
    "NativeOpsError",
    "checkpoint", "native_ops",
    "__version__",
]
