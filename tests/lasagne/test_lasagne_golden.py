"""The Lasagne mirror against golden data from the real Theano + Lasagne code
of openai/improved-gan (tests/data/lasagne, see PROVENANCE.md).

Every array is compared in float64 to within 1e-9 of its largest absolute
value: the pass before init, the init pass (outputs, updates), the parameters
and outputs after applying the updates, and the gradients of sum(out**2) with
respect to W, b, g and the input.
"""
import json
import os

import numpy as np
import pytest
import tensorflow.compat.v1 as tf

from tf1_wn.compat import lasagne

# Every test runs on native kernels and on composed ops (conftest).
pytestmark = pytest.mark.usefixtures("implementation")

DATA = os.path.join(os.path.dirname(os.path.dirname(__file__)), "data",
                    "lasagne")
with open(os.path.join(DATA, "manifest.json")) as _f:
    MANIFEST = json.load(_f)
CASES = {case["name"]: case for case in MANIFEST["cases"]}
RTOL = 1e-9

NONLINEARITIES = {"lrelu": lasagne.nn.lrelu, "relu": lasagne.nn.relu}


def load(case):
    with np.load(os.path.join(DATA, case["file"])) as npz:
        return {k: npz[k] for k in npz.files}


def build(case, data):
    """The case's model on the mirror, from the golden initial values."""
    hp = case["hyper_params"]
    nonlinearity = NONLINEARITIES[case["nonlinearity"]]
    l_in = lasagne.layers.InputLayer((None,) + data["x"].shape[1:],
                                     dtype=tf.float64)
    kind = case["layer_type"]
    W = data["pre__W"]
    if kind == "dense":
        base = lasagne.layers.DenseLayer(l_in, hp["num_units"], W=W,
                                         nonlinearity=nonlinearity)
    elif kind.startswith("conv"):
        base = lasagne.layers.Conv2DLayer(
            l_in, hp["num_filters"], hp["filter_size"], stride=hp["stride"],
            pad=hp["pad"], flip_filters=hp["flip_filters"], W=W,
            nonlinearity=nonlinearity)
    elif kind == "nin":
        base = lasagne.layers.NINLayer(l_in, hp["num_units"], W=W,
                                       nonlinearity=nonlinearity)
    elif kind.startswith("deconv"):
        base = lasagne.nn.Deconv2DLayer(l_in, hp["target_shape"],
                                        hp["filter_size"], stride=hp["stride"],
                                        W=W, nonlinearity=nonlinearity)
    else:
        raise AssertionError("unknown case kind %r" % kind)
    wn = lasagne.nn.weight_norm(base, b=data["pre__b"], g=data["pre__g"],
                                **case["weight_norm_kwargs"])
    return l_in, base, wn


class Checker(object):
    def __init__(self):
        self.failures = []
        self.worst = {}

    def __call__(self, key, actual, expected):
        actual = np.asarray(actual)
        if actual.shape != expected.shape:
            self.failures.append("%s: shape %s != %s"
                                 % (key, actual.shape, expected.shape))
            return
        scale = np.max(np.abs(expected))
        err = np.max(np.abs(actual - expected)) / scale
        self.worst[key] = err
        if not err <= RTOL:
            self.failures.append("%s: max error %.3g of max|value|" % (key,
                                                                       err))


@pytest.mark.parametrize("name", sorted(CASES))
def test_golden_case(graph, name):
    case = CASES[name]
    data = load(case)
    l_in, base, wn = build(case, data)
    x = l_in.input_var
    params = {"W": base.W_param, "b": wn.b, "g": wn.g}

    out, base_out = lasagne.layers.get_output([wn, base])
    loss = tf.reduce_sum(tf.square(out))
    grads = tf.gradients(loss, [params["W"], params["b"], params["g"], x])
    init_out, init_base = lasagne.layers.get_output([wn, base], init=True)
    updates = lasagne.layers.get_init_updates(wn)
    apply_op = lasagne.updates.apply_updates(updates)

    check = Checker()
    feed = {x: data["x"]}
    with tf.Session() as sess:
        sess.run(tf.global_variables_initializer())
        before = sess.run([out, base_out, base.W, loss] + grads, feed)
        for key, value in zip(
                ["out_pre", "act_pre__base", "weff_pre__base", "loss_pre",
                 "gradpre__W", "gradpre__b", "gradpre__g", "gradpre__x"],
                before):
            check(key, value, data[key])
        init_values = sess.run([init_out, init_base]
                               + [v for _, v in updates], feed)
        for key, value in zip(["out_init", "act_init__base"] + [
                "upd__" + n for n in case["init_updates_order"]],
                init_values):
            check(key, value, data[key])
        sess.run(apply_op, feed)
        for pname in ("W", "b", "g"):
            check("post__" + pname, sess.run(params[pname]),
                  data["post__" + pname])
        after = sess.run([out, base_out, base.W, loss] + grads, feed)
        for key, value in zip(
                ["out_post", "act_post__base", "weff_post__base", "loss_post",
                 "grad__W", "grad__b", "grad__g", "grad__x"], after):
            check(key, value, data[key])
    assert not check.failures, check.failures


@pytest.mark.parametrize("name", sorted(CASES))
def test_golden_param_order_and_tags(graph, name):
    case = CASES[name]
    data = load(case)
    _, base, wn = build(case, data)
    assert lasagne.layers.get_all_param_names(wn) == \
        case["lasagne_get_all_params_order"]
    trainable = lasagne.layers.get_all_params(wn, trainable=True)
    by_name = dict(zip(lasagne.layers.get_all_param_names(wn),
                       lasagne.layers.get_all_params(wn)))
    assert [v.name for v in trainable] == [
        by_name[n].name for n in case["lasagne_trainable_params"]]
    regularizable = lasagne.layers.get_all_params(wn, regularizable=True)
    assert [v.name for v in regularizable] == [by_name["W"].name]
    # TF's own collection agrees with the trainable tag.
    tf_trainable = {v.name for v in tf.trainable_variables()}
    assert tf_trainable == {v.name for v in trainable}
    for p in case["params"]:
        assert tuple(by_name[p["name"]].shape.as_list()) == tuple(p["shape"])
