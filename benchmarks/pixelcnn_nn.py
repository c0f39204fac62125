"""pixel-cnn's own ``pixel_cnn_pp/nn.py`` as a layer set, for comparisons.

The module is not part of this project: pass the directory of a clone of
https://github.com/openai/pixel-cnn (``--pixel-cnn DIR``).  It is written
for TensorFlow 1.x, so it is loaded with its ``import tensorflow`` bound to
``tensorflow.compat.v1`` and its ``tensorflow.contrib`` ``add_arg_scope``
bound to tf-slim's; nothing of it is changed or copied.
"""
import builtins
import importlib.util
import os
import types

from tf_slim.ops.arg_scope import add_arg_scope

from common import tf

_CONTRIB_OPS = "tensorflow.contrib.framework.python.ops"


def load_nn(clone):
    """Loads ``<clone>/pixel_cnn_pp/nn.py``; returns the module.

    Raises:
      FileNotFoundError: `clone` has no ``pixel_cnn_pp/nn.py``.
    """
    path = os.path.join(clone, "pixel_cnn_pp", "nn.py")
    if not os.path.isfile(path):
        raise FileNotFoundError(
            f"--pixel-cnn {clone!r}: no pixel_cnn_pp/nn.py there (expected a "
            "clone of https://github.com/openai/pixel-cnn)")
    contrib = types.SimpleNamespace(add_arg_scope=add_arg_scope)

    def _import(name, globals=None, locals=None, fromlist=(), level=0):
        if name == "tensorflow":
            return tf
        if name == _CONTRIB_OPS:
            return contrib
        return builtins.__import__(name, globals, locals, fromlist, level)

    spec = importlib.util.spec_from_file_location("pixel_cnn_pp_nn", path)
    module = importlib.util.module_from_spec(spec)
    module.__builtins__ = dict(vars(builtins), __import__=_import)
    spec.loader.exec_module(module)
    return module


class PixelCnnNnLayers:
    """pixel-cnn's weight-normalized layers behind the signatures of
    `bench_models.PlainLayers`; one `counters` dict per layer set, as
    pixel-cnn's model passes one per model."""

    def __init__(self, nn):
        self.nn = nn
        self.counters = {}

    def _call(self, layer, scope, *args, **kwargs):
        with tf.variable_scope(scope, default_name=layer.__name__):
            return layer(*args, counters=self.counters, **kwargs)

    def conv2d(self, x, filters, kernel_size, strides=1, padding="SAME",
               activation=None, scope=None, **unused):
        return self._call(self.nn.conv2d, scope, x, filters,
                          list(kernel_size), [strides, strides], padding,
                          nonlinearity=activation)

    def conv2d_transpose(self, x, filters, kernel_size, strides=1,
                         padding="SAME", activation=None, scope=None,
                         **unused):
        return self._call(self.nn.deconv2d, scope, x, filters,
                          list(kernel_size), [strides, strides], padding,
                          nonlinearity=activation)

    def dense(self, x, units, activation=None, scope=None, **unused):
        return self._call(self.nn.dense, scope, x, units,
                          nonlinearity=activation)

    def nin(self, x, units, activation=None, scope=None, **unused):
        return self._call(self.nn.nin, scope, x, units,
                          nonlinearity=activation)
