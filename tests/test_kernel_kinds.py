"""The kernel-kind and WS-variant tables every layer, cell and checkpoint
tool reads (`tf1_wn.kernel_kinds`), checked against values written out by
hand from the layouts."""
import numpy as np
import pytest

from tf1_wn import kernel_kinds
from tf1_wn.checkpoint import kernel_math

# kind -> (a kernel shape, the reduced axes, the number of channels), by
# hand from the layouts [in, out], [*k, in, out], [*k, out, in] and
# [kh, kw, in, multiplier].
HAND_WRITTEN = {
    "dense": ((5, 3), [0], 3),
    "conv1d": ((3, 2, 4), [0, 1], 4),
    "conv2d": ((3, 3, 2, 4), [0, 1, 2], 4),
    "conv3d": ((2, 3, 3, 2, 4), [0, 1, 2, 3], 4),
    "conv1d_transpose": ((3, 4, 2), [0, 2], 4),
    "conv2d_transpose": ((3, 3, 4, 2), [0, 1, 3], 4),
    "conv3d_transpose": ((2, 3, 3, 4, 2), [0, 1, 2, 4], 4),
    "depthwise_conv2d": ((3, 3, 2, 5), [0, 1], 10),
}


def test_the_table_covers_exactly_the_layer_kinds():
    assert set(kernel_kinds.LAYER_KINDS) == set(HAND_WRITTEN)


@pytest.mark.parametrize("kind", sorted(HAND_WRITTEN))
def test_reduce_axes_and_channels(kind):
    shape, axes, channels = HAND_WRITTEN[kind]
    assert kernel_kinds.reduce_axes(kind) == axes
    assert kernel_kinds.reduce_axes(kind, len(shape)) == axes
    assert kernel_kinds.num_channels(kind, shape) == channels
    assert kernel_kinds.channel_shape(kind, shape) == [
        1 if axis in axes else size for axis, size in enumerate(shape)]


@pytest.mark.parametrize("kind", sorted(HAND_WRITTEN))
def test_kernel_norm_reduces_the_tables_axes(kind, rng):
    shape, axes, channels = HAND_WRITTEN[kind]
    kernel = rng.normal(size=shape)
    expected = np.sqrt((kernel ** 2).sum(axis=tuple(axes))).reshape(-1)
    got = kernel_math.kernel_norm(kernel, kind)
    assert got.shape == (channels,)
    np.testing.assert_allclose(got, expected, rtol=1e-14)


def test_unknown_kind_and_wrong_rank_raise_layout_errors():
    with pytest.raises(kernel_kinds.LayoutError, match="unknown kernel kind"):
        kernel_kinds.reduce_axes("conv4d")
    with pytest.raises(kernel_kinds.LayoutError,
                       match=r"'conv2d' needs a rank-4 kernel "
                       r"\[kh, kw, in, out\], got shape \[3, 3, 2\]"):
        kernel_kinds.check_kind("conv2d", [3, 3, 2])
    with pytest.raises(kernel_kinds.LayoutError, match="rank-2"):
        kernel_kinds.reduce_axes("dense", 3)


def test_default_kinds_by_rank():
    assert [kernel_kinds.default_kind(r) for r in (1, 2, 3, 4, 5, 6)] == [
        None, "dense", "conv1d", "conv2d", "conv3d", None]
    assert kernel_kinds.default_kind(4, transposed=True) == \
        "conv2d_transpose"


# -- weight-standardization variants ----------------------------------------

def test_named_variants():
    resolve = kernel_kinds.resolve_ws_variant
    assert resolve("paper") == (1e-5, "std", True)
    assert resolve("paper_tf") == (1e-5, "std", False)
    assert resolve("bit") == (1e-10, "var", False)
    assert resolve("timm") == (1e-6, "var", False)


def test_overrides_replace_only_the_named_field():
    variant = kernel_kinds.resolve_ws_variant("timm", unbiased=True)
    assert variant == (1e-6, "var", True)
    assert kernel_kinds.resolve_ws_variant(variant) == variant
    assert kernel_kinds.resolve_ws_variant(None, 0.5, "std", False) == (
        0.5, "std", False)


@pytest.mark.parametrize("arguments,message", [
    (dict(variant="pytorch"), "`variant` must be one of 'paper'"),
    (dict(variant=None, eps=1e-5), "missing: eps_placement, unbiased"),
    (dict(eps=0.0), r"`eps` must be a positive finite number, got 0\.0"),
    (dict(eps=float("nan")), "`eps` must be a positive"),
    (dict(eps=True), "`eps` must be a positive"),
    (dict(eps_placement="both"), "`eps_placement` must be 'std'"),
    (dict(unbiased=1), "`unbiased` must be True or False, got 1"),
    # A tuple variant goes through the same checks as the named ones.
    (dict(variant=(0.0, "std", False)), "`eps` must be a positive"),
    (dict(variant=(1e-5, "sqrt", False)), "`eps_placement` must be"),
    (dict(variant=[1e-5, "std", False]), "a WSVariant or None"),
])
def test_one_validator_for_every_variant_argument(arguments, message):
    with pytest.raises(ValueError, match=message):
        kernel_kinds.resolve_ws_variant(**arguments)


def test_unbiased_needs_two_entries_per_channel_in_layers_and_tools():
    """The checkpoint tools refuse what the layers refuse (a one-entry
    channel has no unbiased variance)."""
    paper = kernel_kinds.resolve_ws_variant("paper")
    with pytest.raises(ValueError, match="at least 2 kernel entries"):
        kernel_kinds.check_ws_channel_size(paper, 1, [1, 1, 3, 2])
    kernel_kinds.check_ws_channel_size(paper, 2, [1, 2, 3, 2])
    with pytest.raises(ValueError, match="at least 2 kernel entries"):
        kernel_math.fold_weight_standardization(
            np.ones((1, 1, 3, 2)), "depthwise_conv2d", "paper")
    folded = kernel_math.fold_weight_standardization(
        np.ones((1, 1, 3, 2)), "depthwise_conv2d", "paper_tf")
    np.testing.assert_array_equal(folded, np.zeros((1, 1, 3, 2)))
