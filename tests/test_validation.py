"""Unit tests of `tf1_wn.validation`, the argument checks every layer, cell
and the Lasagne mirror use: what each accepts, what it returns, and that a
refusal names the argument and the value."""
import numpy as np
import pytest
import tensorflow.compat.v1 as tf

from tf1_wn import validation


@pytest.mark.parametrize("value", [1, 7, np.int64(3)])
def test_positive_int_accepts_ints(value):
    result = validation.positive_int("units", value)
    assert result == int(value) and type(result) is int


@pytest.mark.parametrize("value", [0, -2, True, 2.0, "3", None])
def test_positive_int_refuses_the_rest(value):
    with pytest.raises(ValueError, match=rf"`units` must be a positive "
                       rf"integer, got {value!r}"):
        validation.positive_int("units", value)


def test_int_tuple_spreads_an_int_and_checks_sequences():
    assert validation.int_tuple("strides", 2, 3) == (2, 2, 2)
    assert validation.int_tuple("strides", [1, np.int32(2)], 2) == (1, 2)
    assert validation.int_tuple("pad", (0, 1), 2, allow_zero=True) == (0, 1)
    with pytest.raises(ValueError, match=r"`pad` must contain positive"):
        validation.int_tuple("pad", (0, 1), 2)
    with pytest.raises(ValueError, match=r"`pad` must contain non-negative"):
        validation.int_tuple("pad", (-1, 1), 2, allow_zero=True)
    with pytest.raises(ValueError, match=r"a sequence of 2 ints, got "
                       r"\(1, 2, 3\)"):
        validation.int_tuple("kernel_size", (1, 2, 3), 2)
    with pytest.raises(ValueError, match="got 'ab'"):
        validation.int_tuple("kernel_size", "ab", 2)


@pytest.mark.parametrize("check,good,bad", [
    (validation.positive_number, [1e-9, 3],
     [0, -1.0, float("inf"), float("nan"), True, "1"]),
    (validation.non_negative_number, [0, 0.0, 1e-12],
     [-1e-30, float("inf"), float("nan"), False, None]),
])
def test_numbers(check, good, bad):
    for value in good:
        assert check("eps", value) == float(value)
    for value in bad:
        with pytest.raises(ValueError, match=r"`eps` must be a"):
            check("eps", value)


@pytest.mark.parametrize("value,expected", [
    ("same", "SAME"), ("Valid", "VALID"),
    ([[1, 2], [0, 3]], ((1, 2), (0, 3))),
    ([[0, 0], [1, 2], [0, 3], [0, 0]], ((1, 2), (0, 3))),
])
def test_padding_forms(value, expected):
    assert validation.padding(value, 2, channels_first=False) == expected


def test_padding_channels_first_pairs():
    assert validation.padding([[0, 0], [0, 0], [1, 2], [3, 4]], 2,
                              channels_first=True) == ((1, 2), (3, 4))


@pytest.mark.parametrize("value", [
    "FULL", [[1, 2]], [[1, 2], [1]], [[1, -1], [0, 0]],
    [[1, 0], [1, 2], [0, 3], [0, 0]],   # padding the batch
    [[0, 0], [1, 2], [0, 3], [1, 0]],   # padding the channels
    [[True, 0], [0, 0]], 3,
])
def test_padding_refusals_name_the_argument(value):
    with pytest.raises(ValueError, match=r"`padding` must be 'SAME', "
                       r"'VALID' or explicit"):
        validation.padding(value, 2, channels_first=False)


def test_check_callable():
    assert validation.check_callable("activation", None) is None
    assert validation.check_callable("activation", abs) is abs
    with pytest.raises(TypeError, match=r"`activation` must be a callable "
                       r"such as tf.nn.relu or None, got 'relu'"):
        validation.check_callable("activation", "relu")
    with pytest.raises(TypeError, match=r"such as tf.reduce_max, got None"):
        validation.check_callable("pool_function", None,
                                  example="tf.reduce_max", allow_none=False)


def test_tensor_checks(graph):
    x = tf.placeholder(tf.float16, [None, 3], name="x")
    assert validation.check_float_tensor("inputs", x) is x
    with pytest.raises(TypeError, match=r"`inputs` must have a floating "
                       r"dtype \(float16, bfloat16, float32, float64\), got "
                       r"int32"):
        validation.check_float_tensor("inputs", tf.constant([1, 2]))
    validation.check_rank("inputs", x, 2)
    validation.check_rank("inputs", x, (2, None))
    with pytest.raises(ValueError, match=r"`inputs` must have rank >= 3 "
                       r"\[b, t, d\], got shape \(None, 3\) \(rank 2\)"):
        validation.check_rank("inputs", x, (3, None), "[b, t, d]")
    with pytest.raises(ValueError, match="rank 2"):
        validation.check_rank("inputs", tf.placeholder(tf.float32), 2)
    assert validation.static_channels("inputs", x, -1) == 3
    with pytest.raises(ValueError, match=r"channel dimension \(axis 0\)"):
        validation.static_channels("inputs", x, 0)


@pytest.mark.parametrize("tensorshape", ["v1", "v2"])
def test_shapes_print_the_same_under_tf1_shapes(tensorshape):
    """TF1's shapes (``disable_v2_behavior``) print an unknown size as ``?``;
    messages print ``None`` either way."""
    was_v2 = tf.TensorShape([None])[0] is None
    (tf.disable_v2_tensorshape if tensorshape == "v1"
     else tf.enable_v2_tensorshape)()
    try:
        texts = [validation.shape_text(shape) for shape in (
            tf.TensorShape([None, 3]), [5], tf.TensorShape(None), [])]
    finally:
        (tf.enable_v2_tensorshape if was_v2 else tf.disable_v2_tensorshape)()
    assert texts == ["(None, 3)", "(5,)", "<unknown>", "()"]


def test_data_format():
    assert validation.data_format("data_format", "NCW", ("NWC", "NCW")) == \
        "NCW"
    with pytest.raises(ValueError, match=r"`data_format` must be one of "
                       r"'NWC', 'NCW', got None"):
        validation.data_format("data_format", None, ("NWC", "NCW"))
