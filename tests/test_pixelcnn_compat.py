"""tf1_wn.compat.pixelcnn: pixel-cnn's nn.py surface on tf1-wn's layers,
used the way model.py uses it (arg_scope with counters, init, ema), with
pixel-cnn's variable names; checked against pixel-cnn's formulas written
here in raw TF (no upstream code), exact re-runnable init, EMA sync and a
checkpoint in pixel-cnn's layout."""
import numpy as np
import pytest
import tensorflow.compat.v1 as tf
from tf_slim import arg_scope

import tf1_wn
from tf1_wn.compat import pixelcnn as nn


def _model(x, init=False, ema=None, dropout_p=0.):
    """A tiny PixelCNN++-shaped net: shifted convs, gated resnets, a
    strided down/up pair with shifted deconvs, nin."""
    counters = {}
    with arg_scope([nn.conv2d, nn.deconv2d, nn.gated_resnet, nn.dense,
                    nn.nin], counters=counters, init=init, ema=ema,
                   dropout_p=dropout_p):
        u = nn.down_shift(nn.down_shifted_conv2d(x, num_filters=8,
                                                 filter_size=[2, 3]))
        ul = nn.right_shift(nn.down_right_shifted_conv2d(
            x, num_filters=8, filter_size=[2, 2]))
        u = nn.gated_resnet(u, conv=nn.down_shifted_conv2d)
        ul = nn.gated_resnet(ul, u, conv=nn.down_right_shifted_conv2d)
        down = nn.down_shifted_conv2d(u, num_filters=8, stride=[2, 2])
        up = nn.down_shifted_deconv2d(down, num_filters=8, stride=[2, 2])
        up_r = nn.down_right_shifted_deconv2d(down, num_filters=8,
                                              stride=[2, 2])
        out = nn.nin(tf.nn.elu(ul + up + up_r), 10)
    return out


@pytest.fixture
def x_value(rng):
    return rng.uniform(-1, 1, size=(4, 8, 8, 3)).astype(np.float32)


def test_variable_names_are_pixelcnns(graph, x_value):
    tf.make_template("model", _model)(tf.constant(x_value), init=True)
    names = sorted(v.op.name for v in tf.global_variables())
    layers = sorted({n.rsplit("/", 1)[0] for n in names})
    assert layers == [
        "model/conv2d_%d" % i for i in range(7)] + [
        "model/deconv2d_0", "model/deconv2d_1", "model/dense_0",
        "model/dense_1"]
    assert all(n.rsplit("/", 1)[1] in ("V", "g", "b") for n in names)
    shapes = {n: v.shape.as_list() for n, v in
              ((v.op.name, v) for v in tf.global_variables())}
    assert shapes["model/deconv2d_0/V"] == [2, 3, 8, 8]  # [kh, kw, out, in]


def test_init_is_exact_and_rerunnable_and_ema_syncs(graph, x_value):
    model = tf.make_template("model", _model)
    x = tf.constant(x_value)
    model(x, init=True)
    out = model(x)
    ema = tf.train.ExponentialMovingAverage(0.999)
    maintain = ema.apply(tf.trainable_variables())
    averaged = model(x, ema=ema)
    with tf.Session() as sess:
        sess.run(tf.global_variables_initializer())
        sess.run(tf1_wn.init_op())
        first = sess.run(out)
        # train-like perturbation, then init again: the same values
        for v in tf.trainable_variables():
            if v.op.name.endswith(("/g", "/b")):
                sess.run(v.assign(v * 1.7 + 0.3))
        sess.run(tf1_wn.init_op())
        again = sess.run(out)
        sess.run(tf1_wn.sync_ema(ema))
        synced = sess.run(averaged)
        sess.run(maintain)
    np.testing.assert_allclose(again, first, rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(synced, first, rtol=1e-5, atol=1e-6)
    # the last layer (nin -> dense_1) is normalized on the init batch
    flat = first.reshape(-1, 10)
    np.testing.assert_allclose(flat.mean(0), 0, atol=1e-5)
    np.testing.assert_allclose(flat.std(0), 1, rtol=1e-5)


def _pixelcnn_layers(x, p):
    """pixel-cnn's conv2d / deconv2d formulas in raw TF, for one conv and a
    VALID stride-2 deconv (target H*s + k - 1)."""
    w = p["conv2d_0/g"] * tf.nn.l2_normalize(p["conv2d_0/V"], [0, 1, 2])
    h = tf.nn.conv2d(x, w, [1, 1, 1, 1], "SAME") + p["conv2d_0/b"]
    wt = tf.reshape(p["deconv2d_0/g"], [1, 1, 5, 1]) * tf.nn.l2_normalize(
        p["deconv2d_0/V"], [0, 1, 3])
    h = tf.nn.conv2d_transpose(h, wt, [4, 8 * 2 + 1, 8 * 2 + 2, 5],
                               [1, 2, 2, 1], "VALID")
    return h + p["deconv2d_0/b"]


def test_checkpoint_in_pixelcnn_layout_restores_with_equal_outputs(
        graph, tmp_path, rng, x_value):
    values = {
        "conv2d_0/V": rng.normal(size=(3, 3, 3, 6)),
        "conv2d_0/g": rng.uniform(0.5, 2, 6),
        "conv2d_0/b": rng.normal(size=6),
        "deconv2d_0/V": rng.normal(size=(2, 3, 5, 6)),
        "deconv2d_0/g": rng.uniform(0.5, 2, 5),
        "deconv2d_0/b": rng.normal(size=5),
    }
    values = {k: v.astype(np.float32) for k, v in values.items()}
    prefix = str(tmp_path / "pixelcnn.ckpt")
    with tf.Graph().as_default():   # a writer of pixel-cnn's layout
        variables = {k: tf.Variable(v, name=k) for k, v in values.items()}
        want = _pixelcnn_layers(tf.constant(x_value), variables)
        with tf.Session() as sess:
            sess.run(tf.global_variables_initializer())
            want = sess.run(want)
            tf.train.Saver().save(sess, prefix, write_meta_graph=False)
    counters = {}
    h = nn.conv2d(tf.constant(x_value), 6, counters=counters)
    out = nn.deconv2d(h, 5, filter_size=[2, 3], stride=[2, 2], pad='VALID',
                      counters=counters)
    assert out.shape.as_list() == [4, 17, 18, 5]
    with tf.Session() as sess:
        tf.train.Saver().restore(sess, prefix)
        got = sess.run(out)
    np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-5)


def test_adam_updates_is_pixelcnns_formula_and_variables(graph, rng):
    p = tf.Variable(rng.normal(size=3).astype(np.float32), name="p")
    g_value = rng.normal(size=3).astype(np.float32)
    step = nn.adam_updates([p], [tf.constant(g_value)], lr=0.01, mom1=0.5)
    names = [v.op.name for v in tf.global_variables()]
    assert names == ["p", "Variable", "Variable_1", "Variable_2"]
    with tf.Session() as sess:
        sess.run(tf.global_variables_initializer())
        start = sess.run(p)
        sess.run(step)
        sess.run(step)
        got = sess.run(p)
    want = start.astype(np.float64)
    v = mg = np.zeros(3)
    for t in (1, 2):
        v = 0.5 * v + 0.5 * g_value
        mg = 0.999 * mg + 0.001 * g_value ** 2
        want = want - 0.01 * (v / (1 - 0.5 ** t)) / np.sqrt(
            mg / (1 - 0.999 ** t) + 1e-8)
    np.testing.assert_allclose(got, want, rtol=1e-5)


def test_log_sum_exp_and_log_prob(graph, rng):
    x = rng.normal(size=(3, 4, 5)) * 30
    lse, lp = tf.Session().run([nn.log_sum_exp(tf.constant(x)),
                                nn.log_prob_from_logits(tf.constant(x))])
    m = x.max(-1, keepdims=True)
    want = m[..., 0] + np.log(np.exp(x - m).sum(-1))
    np.testing.assert_allclose(lse, want, rtol=1e-12)
    np.testing.assert_allclose(lp, x - want[..., None], rtol=1e-12,
                               atol=1e-12)


def _np_mixture_nll(x, l):  # noqa: E741 (pixel-cnn's name)
    """float64 NumPy: the discretized mixture of logistics, from its
    definition (bin width 2/255 on [-1, 1], open first and last bins,
    channel-dependent means; a bin of mass below 1e-5 is taken as its
    centre's density times its width, as PixelCNN++ does)."""
    k = l.shape[-1] // 10
    logits = l[..., :k]
    rest = l[..., k:].reshape(x.shape + (3 * k,))
    means, log_s = rest[..., :k].copy(), np.maximum(rest[..., k:2 * k], -7)
    c = np.tanh(rest[..., 2 * k:])
    r, g = x[..., 0:1], x[..., 1:2]
    means[..., 1, :] += c[..., 0, :] * r
    means[..., 2, :] += c[..., 1, :] * r + c[..., 2, :] * g

    def sigmoid(z):
        return 1 / (1 + np.exp(-z))
    xe = x[..., None]
    up = sigmoid((xe - means + 1 / 255) / np.exp(log_s))
    lo = sigmoid((xe - means - 1 / 255) / np.exp(log_s))
    inner = up - lo
    # a bin of mass below 1e-5: the density at its centre times its width
    z = (xe - means) / np.exp(log_s)
    log_centre = z - log_s - 2 * np.logaddexp(0, z) - np.log(127.5)
    log_inner = np.where(inner > 1e-5, np.log(np.maximum(inner, 1e-300)),
                         log_centre)
    log_p = np.where(xe < -0.999, np.log(up),
                     np.where(xe > 0.999, np.log(1 - lo), log_inner)).sum(3)
    log_w = logits - logits.max(-1, keepdims=True)
    log_w -= np.log(np.exp(log_w).sum(-1, keepdims=True))
    total = log_p + log_w
    top = total.max(-1, keepdims=True)
    return -(top[..., 0] + np.log(np.exp(total - top).sum(-1))).sum()


def test_discretized_mix_logistic_loss_against_numpy(graph, rng):
    levels = rng.integers(0, 256, size=(2, 3, 4, 3))
    levels[0, 0, 0] = [0, 255, 128]   # both open bins
    x = (levels - 127.5) / 127.5
    mix = rng.normal(size=(2, 3, 4, 30))
    mix[..., 10:] *= 0.3
    got = tf.Session().run(nn.discretized_mix_logistic_loss(
        tf.constant(x), tf.constant(mix)))
    np.testing.assert_allclose(got, _np_mixture_nll(x, mix), rtol=1e-10)
    per_image = tf.Session().run(nn.discretized_mix_logistic_loss(
        tf.constant(x), tf.constant(mix), sum_all=False))
    assert per_image.shape == (2,)
    np.testing.assert_allclose(per_image.sum(), got, rtol=1e-12)


def test_sampler_follows_a_peaked_mixture(graph, rng):
    """One dominant component with log scale -7: the samples are its means
    moved by the channel coefficients, within the logistic's spread."""
    k = 2
    mix = np.zeros((2, 4, 4, 10 * k), np.float32)
    mix[..., 0] = 50.0                                # component 0 wins
    means = rng.uniform(-0.4, 0.4, size=(2, 4, 4, 3)).astype(np.float32)
    rest = np.zeros((2, 4, 4, 3, 3 * k), np.float32)
    rest[..., 0] = means
    rest[..., k:2 * k] = -7.0
    rest[..., 2 * k] = 0.5                            # tanh(0.5) coefficients
    mix[..., k:] = rest.reshape(2, 4, 4, 9 * k)
    got = tf.Session().run(nn.sample_from_discretized_mix_logistic(
        tf.constant(mix), k))
    c = np.tanh(0.5)
    want_r = means[..., 0]
    want_g = means[..., 1] + c * want_r
    want_b = means[..., 2] + c * want_r + c * want_g
    np.testing.assert_allclose(got, np.stack([want_r, want_g, want_b], -1),
                               atol=0.05)
    assert np.abs(got).max() <= 1.0


@pytest.mark.parametrize("dropout_in_init", [True, False])
def test_init_pass_with_or_without_dropout(graph, x_value, dropout_in_init):
    """train.py inits with dropout 0.5: the deterministic model then misses
    the target statistics; dropout_in_init=False inits what is
    evaluated."""
    def block(x, init=False, dropout_p=0.):
        counters = {}
        with arg_scope([nn.conv2d, nn.gated_resnet, nn.dense, nn.nin],
                       counters=counters, init=init, dropout_p=dropout_p):
            with arg_scope([nn.gated_resnet],
                           dropout_in_init=dropout_in_init):
                h = nn.gated_resnet(nn.conv2d(x, 16))
            return nn.nin(h, 6)
    tf.set_random_seed(3)
    model = tf.make_template("m", block)
    x = tf.constant(np.repeat(x_value, 8, axis=0))
    model(x, init=True, dropout_p=0.5)
    out = model(x)                                   # deterministic
    with tf.Session() as sess:
        sess.run(tf.global_variables_initializer())
        sess.run(tf1_wn.init_op())
        flat = sess.run(out).reshape(-1, 6)
    off = np.abs(flat.mean(0)).max() + np.abs(flat.std(0) - 1).max()
    if dropout_in_init:  # off target by far more than rounding
        assert off > 1e-3, off
    else:
        assert off < 1e-5, off


def _train_graph(batch, devices):
    """train.py's graph at toy size: one make_template model, an init pass,
    one tower per device, summed gradients, adam_updates and a Polyak
    average maintained with the step."""
    model = tf.make_template("model", _model)
    x_init = tf.placeholder(tf.float32, batch)
    model(x_init, init=True)
    params = tf.trainable_variables()
    ema = tf.train.ExponentialMovingAverage(decay=0.9)
    maintain = ema.apply(params)
    towers = [tf.placeholder(tf.float32, batch) for _ in devices]
    losses, grads, outs = [], [], []
    for x, device in zip(towers, devices):
        with tf.device(device):
            out = model(x)
            outs.append(out)
            target = tf.nn.softmax(tf.reshape(x, [-1, 3]) * 4.0)
            losses.append(tf.reduce_mean(
                tf.nn.softmax_cross_entropy_with_logits_v2(
                    labels=target, logits=tf.reshape(out[..., :3],
                                                     [-1, 3]))))
            grads.append(tf.gradients(losses[-1], params))
    total = [tf.add_n(list(g)) for g in zip(*grads)]
    step = tf.group(nn.adam_updates(params, total, lr=0.01), maintain)
    test_out = model(towers[0], ema=ema)
    return dict(x_init=x_init, towers=towers, loss=tf.add_n(losses),
                step=step, out=outs[0], test_out=test_out, ema=ema)


def test_two_cpu_towers_train_and_the_whole_state_round_trips(
        tmp_path, rng):
    """As train.py: towers on two devices, init, sync_ema, Adam with
    Polyak averaging; the loss falls, and a plain Saver brings back the
    raw weights, their shadows and adam_updates' slots (same outputs, same
    next step)."""
    batch = [4, 8, 8, 3]
    data = rng.uniform(-1, 1, size=(6,) + tuple(batch)).astype(np.float32)
    config = tf.ConfigProto(device_count={"CPU": 2},
                            allow_soft_placement=False)
    prefix = str(tmp_path / "model.ckpt")
    with tf.Graph().as_default():
        g = _train_graph(batch, ["/cpu:0", "/cpu:1"])
        feed = {x: d for x, d in zip(g["towers"], data[:2])}
        with tf.Session(config=config) as sess:
            sess.run(tf.global_variables_initializer())
            sess.run(tf1_wn.init_op(), {g["x_init"]: data[2]})
            sess.run(tf1_wn.sync_ema(g["ema"]))
            raw, averaged = sess.run([g["out"], g["test_out"]], feed)
            np.testing.assert_allclose(averaged, raw, rtol=1e-5, atol=1e-6)
            start = sess.run(g["loss"], feed)
            for i in range(40):
                sess.run(g["step"], {x: d for x, d in
                                     zip(g["towers"], data[i % 3 * 2:][:2])})
            end = sess.run(g["loss"], feed)
            tf.train.Saver().save(sess, prefix, write_meta_graph=False)
            want = sess.run([g["out"], g["test_out"]], feed)
            sess.run(g["step"], feed)
            want_next = sess.run(g["out"], feed)
    assert end < 0.9 * start, (start, end)
    names = {n for n, _ in tf.train.list_variables(prefix)}
    assert "model/conv2d_0/V/ExponentialMovingAverage" in names
    assert "Variable" in names  # adam_updates' step counter, pixel-cnn's
    with tf.Graph().as_default():
        g = _train_graph(batch, ["/cpu:0", "/cpu:1"])
        feed = {x: d for x, d in zip(g["towers"], data[:2])}
        with tf.Session(config=config) as sess:
            tf.train.Saver().restore(sess, prefix)
            got = sess.run([g["out"], g["test_out"]], feed)
            sess.run(g["step"], feed)
            got_next = sess.run(g["out"], feed)
    for a, b in zip(got + [got_next], want + [want_next]):
        np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-6)


def test_ema_shadows_in_pixelcnns_layout_restore(graph, tmp_path, rng,
                                                 x_value):
    """Raw weights and their shadows (<var>/ExponentialMovingAverage, as
    pixel-cnn's Saver writes them) restore; `ema=` reads the shadows."""
    def draw():
        return {"conv2d_0/V": rng.normal(size=(3, 3, 3, 6)),
                "conv2d_0/g": rng.uniform(0.5, 2, 6),
                "conv2d_0/b": rng.normal(size=6)}
    raw, shadow = draw(), draw()
    prefix = str(tmp_path / "shadows.ckpt")
    with tf.Graph().as_default():  # a writer of pixel-cnn's layout
        for name in raw:
            tf.Variable(np.float32(raw[name]), name=name)
            tf.Variable(np.float32(shadow[name]),
                        name=name + "/ExponentialMovingAverage")
        with tf.Session() as sess:
            sess.run(tf.global_variables_initializer())
            tf.train.Saver().save(sess, prefix, write_meta_graph=False)
    x = tf.constant(x_value)
    plain = nn.conv2d(x, 6, counters={})
    ema = tf.train.ExponentialMovingAverage(0.99)
    ema.apply(tf.trainable_variables())
    with tf.variable_scope(tf.get_variable_scope(), reuse=True):
        averaged = nn.conv2d(x, 6, counters={}, ema=ema)
    with tf.Session() as sess:
        tf.train.Saver().restore(sess, prefix)
        got_raw, got_avg = sess.run([plain, averaged])

    def conv(p):  # float64: g * V / ||V|| over axes 0, 1, 2, SAME, + b
        v = p["conv2d_0/V"]
        w = p["conv2d_0/g"] * v / np.sqrt((v ** 2).sum((0, 1, 2)))
        xp = np.pad(x_value.astype(np.float64),
                    ((0, 0), (1, 1), (1, 1), (0, 0)))
        out = np.zeros(x_value.shape[:3] + (6,))
        for i in range(3):
            for j in range(3):
                out += xp[:, i:i + 8, j:j + 8] @ w[i, j]
        return out + p["conv2d_0/b"]
    np.testing.assert_allclose(got_raw, conv(raw), rtol=1e-5, atol=1e-5)
    np.testing.assert_allclose(got_avg, conv(shadow), rtol=1e-5, atol=1e-5)
