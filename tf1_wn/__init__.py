"""tf1-wn: weight normalization and weight standardization for TF1 graphs.

Import TensorFlow's v1 API as usual (``import tensorflow.compat.v1 as tf``),
build in graph mode, and use:

* functional layers `dense`, `nin`, `conv1d`, `conv2d`, `conv3d`,
  `conv2d_transpose`, `depthwise_conv2d` (tf_slim ``arg_scope``-able);
* the same as objects: `WeightNormDense`, `WeightNormConv1D/2D/3D`,
  `WeightNormConv2DTranspose`, `WeightNormDepthwiseConv2D`;
* data-dependent init: build with ``init=True``, then run `init_op()` once
  (`data_init_scaffold` does it once per run in MonitoredTrainingSession);
* `sync_ema` for Polyak averaging after init;
* recurrent cells `WeightNormRNNCell`, `WeightNormGRUCell`,
  `WeightNormLSTMCell` and `MultiRNNCell`;
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
``data_init``           the INIT_OPS collection, `init_op`, `sync_ema`
``training``            `data_init_scaffold` for MonitoredTrainingSession
``native_ops``          build, cache and load the fused C++ kernels
                        (sources in ``native/``)
``errors``              the error tree
``processes``           whether a process runs (stale-temporary cleanup)
``docstrings``          the argument documentation layers and cells
                        share, attached with `docstrings.fill`
``variable_names``      the names of the variables tf1-wn creates
``layers/``             ``base`` (scope, checks, variables, layer-object
                        base), ``weight_norm``, ``weight_std``
``rnn/``                ``base`` (cell protocol, variables, data init),
                        ``cells``, ``multi``
``checkpoint/``         the offline tools: ``names``, ``kernel_math``,
                        ``plan``/``convert_plan``/``fold_plan``,
                        ``inspection``, ``files``, ``graph_ops``
``cli``                 the ``tf1-wn`` command
``compat/lasagne/``     the Lasagne mirror (top-level ``compat/`` folder)
======================  ==================================================
"""
from tf1_wn._tf import tf as _tf  # noqa: F401  (fails early without TF)
from tf1_wn import checkpoint, native_ops
from tf1_wn.data_init import INIT_OPS, init_op, sync_ema
from tf1_wn.errors import (CheckpointError, Error, LayoutError,
                           NativeOpsError, NotConnectedError)
from tf1_wn.layers import (WeightNormConv1D, WeightNormConv2D,
                           WeightNormConv2DTranspose, WeightNormConv3D,
                           WeightNormDense, WeightNormDepthwiseConv2D,
                           WeightStandardizedConv1D, WeightStandardizedConv2D,
                           WeightStandardizedConv2DTranspose,
                           WeightStandardizedConv3D,
                           WeightStandardizedDepthwiseConv2D, conv1d, conv2d,
                           conv2d_transpose, conv3d, dense, depthwise_conv2d,
                           nin, ws_conv1d, ws_conv2d, ws_conv2d_transpose,
                           ws_conv3d, ws_depthwise_conv2d)
from tf1_wn.normalization import DATA_INIT_EPS, DEFAULT_EPS
from tf1_wn.rnn import (LSTMStateTuple, MultiRNNCell, WeightNormGRUCell,
                        WeightNormLSTMCell, WeightNormRNNCell)
from tf1_wn.training import data_init_scaffold
from tf1_wn.version import __version__

__all__ = [
    "INIT_OPS", "init_op", "sync_ema", "data_init_scaffold",
    "dense", "nin", "conv1d", "conv2d", "conv3d", "conv2d_transpose",
    "depthwise_conv2d",
    "WeightNormDense", "WeightNormConv1D", "WeightNormConv2D",
    "WeightNormConv3D", "WeightNormConv2DTranspose",
    "WeightNormDepthwiseConv2D",
    "DEFAULT_EPS", "DATA_INIT_EPS",
    "WeightNormRNNCell", "WeightNormGRUCell", "WeightNormLSTMCell",
    "MultiRNNCell", "LSTMStateTuple",
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
