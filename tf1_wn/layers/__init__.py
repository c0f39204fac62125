"""The weight-normalized and weight-standardized layers.

* `tf1_wn.layers.weight_norm`: ``dense``, ``nin``, ``conv1d/2d/3d``,
  ``conv2d_transpose``, ``depthwise_conv2d`` and the ``WeightNorm*``
  objects;
* `tf1_wn.layers.weight_std`: ``ws_conv*`` and the
  ``WeightStandardized*`` objects;
* `tf1_wn.layers.recompute`: `recompute_kernels`, a scope in which layers
  recompute their normalized kernel for the gradient;
* `tf1_wn.layers.base`: what both share (scope, input checks, variables,
  EMA reads, the layer-object base).

Every public layer is importable from here (``tf1_wn.layers.dense``) and
from `tf1_wn` itself.
"""
from tf1_wn.layers.recompute import recompute_kernels
from tf1_wn.layers.weight_norm import (WeightNormConv1D, WeightNormConv2D,
                                       WeightNormConv2DTranspose,
                                       WeightNormConv3D, WeightNormDense,
                                       WeightNormDepthwiseConv2D, conv1d,
                                       conv2d, conv2d_transpose, conv3d,
                                       dense, depthwise_conv2d, nin)
from tf1_wn.layers.weight_std import (WeightStandardizedConv1D,
                                      WeightStandardizedConv2D,
                                      WeightStandardizedConv2DTranspose,
                                      WeightStandardizedConv3D,
                                      WeightStandardizedDepthwiseConv2D,
                                      ws_conv1d, ws_conv2d,
                                      ws_conv2d_transpose, ws_conv3d,
                                      ws_depthwise_conv2d)

__all__ = [
    "dense", "nin", "conv1d", "conv2d", "conv3d", "conv2d_transpose",
    "depthwise_conv2d",
    "WeightNormDense", "WeightNormConv1D", "WeightNormConv2D",
    "WeightNormConv3D", "WeightNormConv2DTranspose",
    "WeightNormDepthwiseConv2D",
    "ws_conv1d", "ws_conv2d", "ws_conv3d", "ws_conv2d_transpose",
    "ws_depthwise_conv2d",
    "WeightStandardizedConv1D", "WeightStandardizedConv2D",
    "WeightStandardizedConv3D", "WeightStandardizedConv2DTranspose",
    "WeightStandardizedDepthwiseConv2D",
    "recompute_kernels",
]
