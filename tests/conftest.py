"""Shared pytest fixtures: every test runs in a fresh TF1 graph.

With ``TF1_WN_TEST_BEHAVIOR=tf1`` the whole run starts with
``tf.disable_v2_behavior()``, as most TF1 code bases do: reference
variables, TF1 control flow and shapes (`make test` runs a part of the
suite so as well).
"""
import os
import zlib

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import numpy as np
import pytest
import tensorflow.compat.v1 as tf

_BEHAVIOR = os.environ.get("TF1_WN_TEST_BEHAVIOR", "tf2")
if _BEHAVIOR == "tf1":
    tf.disable_v2_behavior()
elif _BEHAVIOR == "tf2":
    tf.disable_eager_execution()
else:
    raise ValueError(f"TF1_WN_TEST_BEHAVIOR must be 'tf1' or 'tf2', got "
                     f"{_BEHAVIOR!r}")


@pytest.fixture
def graph():
    """A fresh default graph, so variable and scope names start from zero."""
    with tf.Graph().as_default() as g:
        yield g


@pytest.fixture
def rng(request):
    """A NumPy generator seeded from the test's name: fresh data per test,
    repeatable across runs."""
    seed = zlib.crc32(request.node.nodeid.encode())
    return np.random.default_rng(seed)


@pytest.fixture(params=["native", "composed"])
def implementation(request):
    """Runs a test on both paths: the fused native kernels of
    `tf1_wn.native_ops` and the composed TensorFlow ops (what runs without
    a compiler or with a GPU).  Use with ``pytest.mark.usefixtures``."""
    from tf1_wn import native_ops
    if request.param == "native" and not native_ops.compiler_available():
        pytest.skip("no C++ compiler for the native kernels")
    previous = native_ops.set_mode("on" if request.param == "native"
                                   else "off")
    yield request.param
    native_ops.set_mode(previous)


def pytest_collection_modifyitems(config, items):
    """Legacy-Keras tests run only in their own process with
    TF_USE_LEGACY_KERAS=1 (see `make test-legacy-keras`)."""
    if os.environ.get("TF_USE_LEGACY_KERAS") == "1":
        return
    skip = pytest.mark.skip(reason="needs TF_USE_LEGACY_KERAS=1 and tf-keras")
    for item in items:
        if "legacy_keras" in item.keywords:
            item.add_marker(skip)
