"""``lasagne.layers``: every layer class and the network helpers, so code
written as ``lasagne.layers.DenseLayer`` / ``lasagne.layers.get_output`` runs
unchanged."""
from tf1_wn.compat.lasagne import dnn
from tf1_wn.compat.lasagne.base import InputLayer, Layer, create_param
from tf1_wn.compat.lasagne.conv import (BaseConvLayer, Conv1DLayer,
                                        Conv2DLayer, Deconv2DLayer)
from tf1_wn.compat.lasagne.dense import DenseLayer, NINLayer
from tf1_wn.compat.lasagne.helpers import (count_params, get_all_layers,
                                           get_all_param_names,
                                           get_all_param_values,
                                           get_all_params, get_bn_updates,
                                           get_init_updates, get_output,
                                           get_output_shape,
                                           set_all_param_values)
from tf1_wn.compat.lasagne.merge import (ConcatLayer, ElemwiseSumLayer,
                                         MergeLayer)
from tf1_wn.compat.lasagne.noise import DropoutLayer, GaussianNoiseLayer
from tf1_wn.compat.lasagne.normalization import BatchNormLayer, batch_norm
from tf1_wn.compat.lasagne.pool import MaxPool2DLayer, Pool2DLayer
from tf1_wn.compat.lasagne.shape import (GlobalPoolLayer, NonlinearityLayer,
                                         ReshapeLayer)
from tf1_wn.compat.lasagne.weight_norm import (MeanOnlyBNLayer,
                                               WeightNormLayer, mean_only_bn,
                                               weight_norm)

dropout = DropoutLayer
reshape = ReshapeLayer
concat = ConcatLayer

__all__ = ["dnn", "Layer", "InputLayer", "create_param", "BaseConvLayer",
           "Conv1DLayer", "Conv2DLayer", "Deconv2DLayer", "DenseLayer",
           "NINLayer", "DropoutLayer", "dropout", "GaussianNoiseLayer",
           "MergeLayer", "ConcatLayer", "concat", "ElemwiseSumLayer",
           "Pool2DLayer", "MaxPool2DLayer",
           "GlobalPoolLayer", "NonlinearityLayer", "ReshapeLayer", "reshape",
           "BatchNormLayer", "batch_norm",
           "WeightNormLayer", "weight_norm", "MeanOnlyBNLayer", "mean_only_bn",
           "get_all_layers", "get_output", "get_output_shape",
           "get_all_params",
           "get_all_param_names", "get_all_param_values",
           "set_all_param_values", "get_init_updates", "get_bn_updates",
           "count_params"]
