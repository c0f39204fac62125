"""Bad input gets a clear error naming the argument and the value."""
import subprocess
import sys
import textwrap

import pytest
import tensorflow.compat.v1 as tf

import tf1_wn


def test_eager_mode_raises_runtime_error_with_instructions():
    script = textwrap.dedent("""
        import numpy as np, tf1_wn
        x = np.ones([2, 3], np.float32)
        for build in (lambda: tf1_wn.dense(x, 2),
                      lambda: tf1_wn.conv2d(np.ones([1, 4, 4, 2], 'f'), 2, 3),
                      lambda: tf1_wn.WeightNormDense(3),
                      lambda: tf1_wn.init_op()):
            try:
                build()
            except RuntimeError as e:
                assert "disable_eager_execution" in str(e), e
                assert "Graph().as_default()" in str(e), e
            else:
                raise SystemExit("no RuntimeError in eager mode")
        print("ok")
    """)
    result = subprocess.run([sys.executable, "-c", script],
                            capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr[-2000:]
    assert result.stdout.strip().endswith("ok")


@pytest.mark.parametrize("build, error, pattern", [
    (lambda: tf1_wn.dense(tf.placeholder(tf.float32, [None]), 2),
     ValueError, r"`inputs` must have rank >= 2.*\(rank 1\)"),
    (lambda: tf1_wn.conv2d(tf.placeholder(tf.float32, [None, 4, 4]), 2, 3),
     ValueError, r"`inputs` must have rank 4"),
    (lambda: tf1_wn.conv1d(tf.placeholder(tf.float32, [1, 4, 4, 2]), 2, 3),
     ValueError, r"rank 3"),
    (lambda: tf1_wn.conv2d(tf.placeholder(tf.float32, [None, 4, 4, None]),
                           2, 3),
     ValueError, r"channel dimension \(axis -1\) of `inputs` must be known"),
    (lambda: tf1_wn.conv2d(tf.placeholder(tf.float32, [None, None, 4, 4]),
                           2, 3, data_format="NCHW"),
     ValueError, r"channel dimension \(axis 1\)"),
    (lambda: tf1_wn.dense(tf.placeholder(tf.int32, [None, 3]), 2),
     TypeError, r"`inputs` must have a floating dtype.*int32"),
    (lambda: tf1_wn.conv2d(tf.placeholder(tf.float32, [1, 4, 4, 2]), 2, 3,
                           padding="FULL"),
     ValueError, r"`padding` must be 'SAME', 'VALID'.*'FULL'"),
    (lambda: tf1_wn.conv2d(tf.placeholder(tf.float32, [1, 4, 4, 2]), 2, 3,
                           padding=[[1, 1], [1, 1], [1, 1], [0, 0]]),
     ValueError, r"`padding`.*\[0, 0\] for batch"),
    (lambda: tf1_wn.conv2d(tf.placeholder(tf.float32, [1, 4, 4, 2]), 2, 3,
                           padding=[[1, -1], [1, 1]]),
     ValueError, r"`padding`"),
    (lambda: tf1_wn.conv2d(tf.placeholder(tf.float32, [1, 4, 4, 2]), 2, 3,
                           data_format="NWHC"),
     ValueError, r"`data_format` must be one of 'NHWC', 'NCHW', got 'NWHC'"),
    (lambda: tf1_wn.conv1d(tf.placeholder(tf.float32, [1, 4, 2]), 2, 3,
                           data_format="NHWC"),
     ValueError, r"`data_format` must be one of 'NWC', 'NCW'"),
    (lambda: tf1_wn.conv2d(tf.placeholder(tf.float32, [1, 4, 4, 2]), 0, 3),
     ValueError, r"`filters` must be a positive integer, got 0"),
    (lambda: tf1_wn.conv2d(tf.placeholder(tf.float32, [1, 4, 4, 2]), 2,
                           (3, 3, 3)),
     ValueError, r"`kernel_size` must be an int or a sequence of 2 ints"),
    (lambda: tf1_wn.conv2d(tf.placeholder(tf.float32, [1, 4, 4, 2]), 2, 3,
                           strides=2, dilation_rate=2),
     ValueError, r"dilation_rate"),
    (lambda: tf1_wn.depthwise_conv2d(tf.placeholder(tf.float32,
                                                    [1, 4, 4, 2]), 3,
                                     strides=(1, 2)),
     ValueError, r"`strides` must be equal"),
    (lambda: tf1_wn.dense(tf.placeholder(tf.float32, [None, 3]), 2,
                          init_scale=0.0),
     ValueError, r"`init_scale` must be a positive number, got 0.0"),
    (lambda: tf1_wn.dense(tf.placeholder(tf.float32, [None, 3]), 2,
                          eps=-1.0),
     ValueError, r"`eps` must be a non-negative number, got -1.0"),
    (lambda: tf1_wn.dense(tf.placeholder(tf.float32, [None, 3]), 2,
                          activation="relu"),
     TypeError, r"`activation` must be a callable.*'relu'"),
    (lambda: tf1_wn.WeightNormConv2D(4, 3, padding="same!"),
     ValueError, r"`padding`"),
])
def test_bad_arguments_are_named(graph, build, error, pattern):
    with pytest.raises(error, match=pattern):
        build()


def test_dtype_mismatch_with_existing_variables_is_reported(graph):
    x32 = tf.placeholder(tf.float32, [None, 3])
    x64 = tf.placeholder(tf.float64, [None, 3])
    tf1_wn.dense(x32, 2, scope="d")
    with pytest.raises(ValueError, match="d/v"):
        tf1_wn.dense(x64, 2, scope="d")


def test_shape_mismatch_with_existing_variables_is_reported(graph):
    tf1_wn.dense(tf.placeholder(tf.float32, [None, 3]), 2, scope="d")
    with pytest.raises(ValueError, match="d/v"):
        tf1_wn.dense(tf.placeholder(tf.float32, [None, 4]), 2, scope="d")


def test_missing_tensorflow_gives_install_hint(tmp_path):
    # A fake `tensorflow` that fails to import, first on sys.path.
    (tmp_path / "tensorflow").mkdir()
    (tmp_path / "tensorflow" / "__init__.py").write_text(
        "raise ImportError('No module named tensorflow')\n")
    # `import tf1_wn` does not import TensorFlow; the first layer does.
    script = ("import sys; sys.path.insert(0, %r)\n"
              "import tf1_wn\n"
              "try:\n    tf1_wn.dense\n"
              "except ImportError as e:\n    print(e)\n" % str(tmp_path))
    result = subprocess.run([sys.executable, "-c", script],
                            capture_output=True, text=True, timeout=60)
    assert "tf1-wn[cpu]" in result.stdout
    assert "needs TensorFlow" in result.stdout
