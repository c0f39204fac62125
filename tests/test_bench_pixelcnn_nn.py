"""benchmarks/pixelcnn_nn.py loads a TF1-era ``pixel_cnn_pp/nn.py`` with
its ``import tensorflow`` bound to ``tensorflow.compat.v1`` and contrib's
``add_arg_scope`` to tf-slim's.  The real module is not in the project, so
a stand-in written in its style (TF1-only names, contrib import) is used.
"""
import os
import sys

import pytest
import tensorflow.compat.v1 as tf

sys.path.insert(0, os.path.join(os.path.dirname(__file__), os.pardir,
                                "benchmarks"))
import pixelcnn_nn  # noqa: E402

STAND_IN = '''
import tensorflow as tf
from tensorflow.contrib.framework.python.ops import add_arg_scope

def get_name(layer_name, counters):
    counters[layer_name] = counters.get(layer_name, -1) + 1
    return layer_name + "_" + str(counters[layer_name])

@add_arg_scope
def conv2d(x_, num_filters, filter_size=[3, 3], stride=[1, 1], pad="SAME",
           nonlinearity=None, counters={}, init=False, ema=None, **kwargs):
    with tf.variable_scope(get_name("conv2d", counters)):
        V = tf.get_variable("V", filter_size + [int(x_.get_shape()[-1]),
                                                num_filters])
        x = tf.nn.conv2d(x_, V, [1] + stride + [1], pad)
    return nonlinearity(x) if nonlinearity is not None else x
'''


def test_loads_a_tf1_module_and_builds_its_layers(tmp_path):
    package = tmp_path / "pixel_cnn_pp"
    package.mkdir()
    (package / "nn.py").write_text(STAND_IN)
    nn = pixelcnn_nn.load_nn(str(tmp_path))
    assert nn.tf is tf
    layers = pixelcnn_nn.PixelCnnNnLayers(nn)
    with tf.Graph().as_default():
        x = tf.zeros([1, 6, 6, 3])
        y = layers.conv2d(x, 4, (2, 3), strides=2, padding="VALID",
                          activation=tf.nn.relu)
        layers.conv2d(y, 5, (1, 1))
        names = [v.op.name for v in tf.global_variables()]
    assert y.shape.as_list() == [1, 3, 2, 4]
    assert names == ["conv2d/conv2d_0/V", "conv2d_1/conv2d_1/V"]
    assert layers.counters == {"conv2d": 1}


def test_missing_clone_names_the_option(tmp_path):
    with pytest.raises(FileNotFoundError, match="--pixel-cnn .*no "
                       "pixel_cnn_pp/nn.py"):
        pixelcnn_nn.load_nn(str(tmp_path))
