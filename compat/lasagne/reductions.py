"""Sums and means as Theano computes them.

Theano's ``T.sum`` and ``T.mean`` accumulate float32 in float64 and float16
in float32 (their ``acc_dtype``), then cast the result back to the input's
dtype.  TensorFlow accumulates in the input's dtype.  On a float32 model the
difference is visible: a data-init mean over a 20 000-element channel is
about 1e-7 off in Theano and a few 1e-6 in plain float32, and the golden
float32 runs of the research scripts carry Theano's figure.  The mirror
uses these reductions wherever the upstream code calls ``T.sum`` /
``T.mean`` (statistics, data init, pooling means, losses); matrix products
accumulate in their dtype in both.
"""
from tf1_wn._tf import tf

_ACCUMULATOR = {tf.float16: tf.float32, tf.float32: tf.float64}


def theano_sum(x, axis=None, keepdims=False):
    """``T.sum(x, axis)``: the sum in Theano's accumulator dtype, cast back.

    Args:
      x: a float tensor.
      axis: an axis, a list of axes or None (all).
      keepdims: keep reduced axes with size 1.

    Returns:
      A tensor of `x`'s dtype.
    """
    wide = _ACCUMULATOR.get(x.dtype.base_dtype)
    if wide is None:
        return tf.reduce_sum(x, axis=axis, keepdims=keepdims)
    return tf.cast(tf.reduce_sum(tf.cast(x, wide), axis=axis,
                                 keepdims=keepdims), x.dtype)


def theano_mean(x, axis=None, keepdims=False):
    """``T.mean(x, axis)``: `theano_sum` divided by the number of reduced
    elements (in `x`'s dtype, as Theano divides).

    Args:
      x: a float tensor.
      axis: an axis, a list of axes or None (all).
      keepdims: keep reduced axes with size 1.

    Returns:
      A tensor of `x`'s dtype.
    """
    total = theano_sum(x, axis=axis, keepdims=keepdims)
    count = tf.size(x) // tf.maximum(tf.size(total), 1)
    return total / tf.cast(count, x.dtype)


def centered_moments(x, axes):
    """The batch statistics the Theano layers compute, with Theano's
    accumulator: ``(mean, x - mean, mean((x - mean)**2))`` over `axes`.

    Args:
      x: a float tensor.
      axes: the axes the statistics are taken over.

    Returns:
      ``(mean, centered, var)``: `mean` and `var` with `axes` removed,
      `centered` shaped like `x`.
    """
    mean = theano_mean(x, axes, keepdims=True)
    centered = x - mean
    var = theano_mean(tf.square(centered), axes)
    return tf.squeeze(mean, axes), centered, var
