"""Pure NumPy / name-level tests of the checkpoint tools (no sessions)."""
import itertools

import numpy as np
import pytest

from tf1_wn import kernel_kinds
from tf1_wn.checkpoint import kernel_math
from tf1_wn.checkpoint import names
from tf1_wn.checkpoint.convert_plan import plan_convert
from tf1_wn.checkpoint.errors import (AmbiguousLayoutError, CheckpointError,
                                      InvalidLayoutError, NameCollisionError,
                                      UnsupportedVariableError)
from tf1_wn.checkpoint.fold_plan import plan_fold
from tf1_wn.checkpoint.plan import VariableInfo as VI


def _norms_by_loop(kernel, out_index):
    """Per-output-channel norms by explicit loops (independent oracle):
    `out_index(idx)` maps a kernel index tuple to the channel number."""
    k = kernel.astype(np.float64)
    acc = {}
    for idx in itertools.product(*[range(s) for s in k.shape]):
        c = out_index(idx)
        acc[c] = acc.get(c, 0.0) + k[idx] ** 2
    return np.sqrt(np.array([acc[c] for c in sorted(acc)]))


@pytest.mark.parametrize("kind,shape,out_index", [
    ("dense", (5, 3), lambda i: i[1]),
    ("conv1d", (3, 2, 4), lambda i: i[2]),
    ("conv2d", (3, 2, 3, 4), lambda i: i[3]),
    ("conv3d", (2, 2, 2, 3, 4), lambda i: i[4]),
    ("conv2d_transpose", (3, 2, 5, 4), lambda i: i[2]),
    ("conv3d_transpose", (2, 2, 2, 5, 3), lambda i: i[3]),
    ("depthwise_conv2d", (3, 2, 4, 3), lambda i: i[2] * 3 + i[3]),
])
def test_kernel_norm_matches_loops_and_folds_back(kind, shape, out_index, rng):
    kernel = rng.normal(size=shape).astype(np.float32)
    g = kernel_math.kernel_norm(kernel, kind)
    np.testing.assert_allclose(g, _norms_by_loop(kernel, out_index),
                               rtol=1e-6)
    assert g.dtype == np.float32
    back = kernel_math.fold_weight_norm(kernel, g, kind, eps=0.0)
    np.testing.assert_allclose(back, kernel, rtol=1e-6, atol=1e-7)
    # a new g rescales each channel
    g2 = rng.uniform(0.5, 2.0, size=g.shape)
    w = kernel_math.fold_weight_norm(kernel, g2, kind, eps=1e-12)
    np.testing.assert_allclose(_norms_by_loop(w, out_index), g2, rtol=1e-5)


def test_fold_rejects_g_of_wrong_size(rng):
    with pytest.raises(kernel_kinds.LayoutError, match="needs 4 entries"):
        kernel_math.fold_weight_norm(rng.normal(size=(3, 3, 2, 4)), np.ones(5),
                                     "conv2d", 0.0)


def _ws_oracle(kernel, out_axis, unbiased, eps, placement, gain):
    k = np.moveaxis(kernel.astype(np.float64), out_axis, 0)
    out = np.empty_like(k)
    for c in range(k.shape[0]):
        col = k[c]
        std = col.std(ddof=1 if unbiased else 0)
        denom = std + eps if placement == "std" else np.sqrt(std ** 2 + eps)
        out[c] = gain[c] * (col - col.mean()) / denom
    return np.moveaxis(out, 0, out_axis)


@pytest.mark.parametrize("variant,unbiased,eps,placement", [
    ("paper", True, 1e-5, "std"), ("paper_tf", False, 1e-5, "std"),
    ("bit", False, 1e-10, "var"), ("timm", False, 1e-6, "var")])
@pytest.mark.parametrize("kind,out_axis", [("conv2d", 3),
                                           ("conv2d_transpose", 2)])
def test_weight_standardization_variants(variant, unbiased, eps, placement,
                                         kind, out_axis, rng):
    kernel = rng.normal(0.3, 0.05, size=(3, 3, 4, 4)).astype(np.float64)
    gain = rng.uniform(0.5, 2.0, size=4)
    got = kernel_math.fold_weight_standardization(kernel, kind, variant, gain)
    want = _ws_oracle(kernel, out_axis, unbiased, eps, placement, gain)
    np.testing.assert_allclose(got, want, rtol=1e-9)
    no_gain = kernel_math.fold_weight_standardization(kernel, kind, variant)
    np.testing.assert_allclose(
        no_gain, _ws_oracle(kernel, out_axis, unbiased, eps, placement,
                            np.ones(4)), rtol=1e-9)


def test_cell_split():
    assert kernel_kinds.cell_split([7, 16], "lstm_cell") == (3, 4)
    assert kernel_kinds.cell_split([7, 8], "gru_gates") == (3, 4)
    assert kernel_kinds.cell_split([7, 4], "rnn_cell") == (3, 4)
    with pytest.raises(kernel_kinds.LayoutError, match="divisible by 4"):
        kernel_kinds.cell_split([7, 10], "lstm_cell")
    with pytest.raises(kernel_kinds.LayoutError, match="more than n=4 rows"):
        kernel_kinds.cell_split([4, 16], "lstm_cell")


@pytest.mark.parametrize("name,shape,kind", [
    ("fc/weights", [5, 3], "dense"),
    ("a/deconv/conv2d/kernel", [5, 3], "dense"),
    ("conv1/weights", [3, 3, 2, 4], "conv2d"),
    ("net/block1/conv/kernel", [3, 2, 4], "conv1d"),
    ("gen/Conv2d_transpose/weights", [3, 3, 2, 4], "conv2d_transpose"),
    ("gen/deconv3/kernel", [3, 3, 3, 2, 4], "conv3d_transpose"),
    ("mobilenet/Conv2d_1_depthwise/depthwise_weights", [3, 3, 8, 1],
     "depthwise_conv2d"),
    ("x/depthwise_kernel", [3, 3, 8, 2], "depthwise_conv2d"),
])
def test_layer_kind_by_name(name, shape, kind):
    assert names.layer_kind(name, shape) == kind


@pytest.mark.parametrize("name,why", [
    ("dw_block/depthwise/kernel", "says depthwise"),
    ("decoder_deconv/conv/kernel", "enclosing scope"),
    ("up/depthwise_transpose/kernel", "both"),
])
def test_layer_kind_ambiguous(name, why):
    with pytest.raises(AmbiguousLayoutError, match=why) as info:
        names.layer_kind(name, [3, 3, 4, 4])
    assert "ambiguous kernel layout" in str(info.value)
    assert "--layout" in str(info.value)


def test_layout_hints():
    hints = names.parse_layouts(
        ["^up/=conv2d_transpose", "dw=depthwise_conv2d"])
    assert names.hinted_kind("up/kernel", hints) == "conv2d_transpose"
    assert names.hinted_kind("dw_block/depthwise/kernel", hints) == \
        "depthwise_conv2d"
    assert names.hinted_kind("conv/kernel", hints) is None
    with pytest.raises(InvalidLayoutError, match="'=conv2d'"):
        names.parse_layouts(["=conv2d"])
    with pytest.raises(InvalidLayoutError, match="unknown kind 'conv4d'"):
        names.parse_layouts({"x": "conv4d"})
    with pytest.raises(InvalidLayoutError, match="needs a rank-4 kernel"):
        names.layer_kind("x/kernel", [3, 4], "conv2d_transpose")


def test_cell_kind():
    assert names.cell_kind("rnn/basic_lstm_cell/kernel") == "lstm_cell"
    assert names.cell_kind("rnn/multi_rnn_cell/cell_0/lstm_cell/kernel") == \
        "lstm_cell"
    assert names.cell_kind("rnn/basic_rnn_cell/kernel") == "rnn_cell"
    assert names.cell_kind("rnn/gru_cell/gates/kernel") == "gru_gates"
    assert names.cell_kind("rnn/gru_cell/candidate/kernel") == "gru_candidate"
    assert names.cell_kind("enc/mycell/kernel", "lstm_cell") == "lstm_cell"
    assert names.cell_kind("fc/kernel") is None
    with pytest.raises(AmbiguousLayoutError, match="gates"):
        names.cell_kind("enc/mygru/kernel", "gru_cell")


def _vars(**shapes):
    return {k.replace("__", "/"): VI(list(v), np.float32)
            for k, v in shapes.items()}


def test_plan_convert_renames_and_slots():
    variables = _vars(conv__weights=[3, 3, 2, 4], conv__biases=[4],
                      conv__weights__Adam=[3, 3, 2, 4], conv__biases__Adam=[4],
                      conv__weights__ExponentialMovingAverage=[3, 3, 2, 4],
                      global_step=[])
    plan = plan_convert(variables)
    assert plan.target_names() == sorted([
        "conv/v", "conv/g", "conv/bias", "conv/bias/Adam",
        "conv/v/ExponentialMovingAverage", "conv/g/ExponentialMovingAverage",
        "global_step"])
    assert any("dropped 1 optimizer slot" in w for w in plan.warnings)
    kept = plan_convert(variables, keep_slots=True)
    assert "conv/weights/Adam" in kept.target_names()
    assert not kept.warnings


def test_plan_convert_include_exclude():
    variables = _vars(a__kernel=[3, 4], b__kernel=[3, 4])
    assert plan_convert(variables, include="^a/").target_names() == \
        ["a/g", "a/v", "b/kernel"]
    assert plan_convert(variables, exclude=["^a/"]).target_names() \
        == ["a/kernel", "b/g", "b/v"]
    plan = plan_convert(variables, include="nothing")
    assert "no kernel matched" in plan.warnings[-1]


def test_plan_convert_errors():
    with pytest.raises(NameCollisionError, match="'d/v'"):
        plan_convert(_vars(d__kernel=[3, 4], d__v=[3, 4]))
    with pytest.raises(NameCollisionError, match="both 'd/bias' and "
                       "'d/biases'"):
        plan_convert(_vars(d__kernel=[3, 4], d__bias=[4],
                           d__biases=[4]))
    with pytest.raises(UnsupportedVariableError, match="separable"):
        plan_convert(_vars(s__depthwise_weights=[3, 3, 4, 1],
                           s__pointwise_weights=[1, 1, 4, 8]))
    with pytest.raises(UnsupportedVariableError, match="recurrent_kernel"):
        plan_convert(_vars(lstm__lstm_cell__kernel=[3, 16],
                           lstm__lstm_cell__recurrent_kernel=[4, 16]))
    with pytest.raises(AmbiguousLayoutError, match="'up/depthwise/kernel'"):
        plan_convert(_vars(up__depthwise__kernel=[3, 3, 4, 4]))
    with pytest.raises(CheckpointError, match="include pattern '\\('"):
        plan_convert(_vars(a__kernel=[2, 2]), include="(")


def test_plan_fold_kind_from_g_size():
    variables = _vars(up__v=[3, 3, 5, 4], up__g=[5],
                      dw__v=[3, 3, 4, 2], dw__g=[8],
                      conv1__v=[3, 3, 4, 4], conv1__g=[4])
    plan = plan_fold(variables)
    kinds = {s.sources[0]: s.kind for s in plan.steps if s.action == "fold"}
    assert kinds == {"up/v": "conv2d_transpose", "dw/v": "depthwise_conv2d",
                     "conv1/v": "conv2d"}
    # in == out and a scope that names no layer kind: g fits both a conv
    # and a transposed conv, and nothing else tells: refused, not guessed.
    with pytest.raises(AmbiguousLayoutError, match="nothing tells its "
                       "layout.*--layout 'c/v=conv2d_transpose'"):
        plan_fold(_vars(c__v=[3, 3, 4, 4], c__g=[4]))
    with pytest.raises(AmbiguousLayoutError, match="enclosing scope"):
        plan_fold(_vars(deconv__c__v=[3, 3, 4, 4], deconv__c__g=[4]))
    plan = plan_fold(_vars(deconv__c__v=[3, 3, 4, 4],
                           deconv__c__g=[4]),
                     layouts_hints={"deconv/": "conv2d_transpose"})
    assert plan.steps[0].kind == "conv2d_transpose"
    # a scope saying "transpose" is trusted (the WN layers' default names)
    plan = plan_fold(_vars(conv2d_transpose__v=[3, 3, 4, 4],
                           conv2d_transpose__g=[4]))
    assert plan.steps[0].kind == "conv2d_transpose"


def test_plan_fold_ws_needs_variant():
    variables = _vars(ws__kernel=[3, 3, 2, 4], ws__gain=[4], ws__bias=[4])
    with pytest.raises(CheckpointError, match="--variant"):
        plan_fold(variables)
    plan = plan_fold(variables, ws_variant="bit", naming="slim")
    assert plan.target_names() == ["ws/biases", "ws/kernel"]
    plain = _vars(conv__kernel=[3, 3, 2, 4])
    assert not plan_fold(plain, ws_variant="bit").changed
    assert plan_fold(plain, ws="^conv/", ws_variant="bit").changed
