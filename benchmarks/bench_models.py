"""Whole models: a PixelCNN++-shaped net and an improved-gan-shaped GAN.

Both models are the project's own code, written once over a layer set, and
built in one graph with tf1-wn's weight-normalized layers, with them
inside `tf1_wn.recompute_kernels` and with plain ``tf.get_variable``
kernels (same shapes, same ops otherwise).  The
training steps (forward, backward, Adam) are timed in interleaved blocks,
wall and CPU time, and the peak memory of one step (the tensors it
allocates, from TensorFlow's step stats) is compared too, as is the
data-init pass's.

* PixelCNN++: two streams of gated resnets over down-shifted and
  down-right-shifted convs, a down pass (strided shifted convs) and an up
  pass (strided shifted deconvs) with the skip connections, a nin head and
  the discretized mixture-of-logistics loss; train.py's structure, scaled
  down (``--filters``, ``--resnets``, ``--size``).
* GAN: improved-gan's cifar feature-matching pair: a generator (dense,
  three 5x5 stride-2 deconvs) and a discriminator (3x3 convs with leaky
  ReLU, stride-2 downsampling, a nin, global pooling, a dense head), weight
  norm in the discriminator and the generator's last layer; one
  discriminator and one generator Adam step.

    .venv/bin/python benchmarks/bench_models.py [--quick] [--pin] \
        [--pixel-cnn DIR]

``--pin`` runs on one core with one thread, where the models cannot race
each other across cores (as ``bench_layers.py --pin``).

``--pixel-cnn DIR`` (a clone of openai/pixel-cnn) adds the PixelCNN++ net
built with pixel-cnn's own ``nn.py`` layers, timed in the same blocks.

The PixelCNN++ net also runs on plain layers with one more trained
per-channel variable each (an output scale): the floor that weight norm's
extra ``g`` variable (its reads and its Adam update) sets on a step.
"""
import argparse

import numpy as np

import pixelcnn_nn
from common import interleaved, intra_op_threads, peak_bytes, session, tf

import tf1_wn
from tf1_wn.compat import pixelcnn


class PlainLayers:
    """Plain layers with tf1-wn's functional signatures (the subset used).

    With `output_gain`, each layer also has a trained per-channel output
    scale ``g`` (ones): what one more variable per layer costs a step,
    without weight norm's math.
    """

    def __init__(self, output_gain=False):
        self._output_gain = output_gain

    def _finish(self, y, activation):
        if self._output_gain:
            y = y * tf.get_variable("g", y.shape[-1:],
                                    initializer=tf.ones_initializer())
        return activation(y) if activation else y

    @staticmethod
    def _variables(kernel_shape, channels):
        kernel = tf.get_variable("kernel", kernel_shape,
                                 initializer=tf.random_normal_initializer(
                                     0, 0.05))
        bias = tf.get_variable("bias", [channels],
                               initializer=tf.zeros_initializer())
        return kernel, bias

    def conv2d(self, x, filters, kernel_size, strides=1, padding="SAME",
               activation=None, scope=None, **unused):
        with tf.variable_scope(scope, default_name="conv2d"):
            kernel, bias = self._variables(
                list(kernel_size) + [x.shape[-1], filters], filters)
            y = tf.nn.bias_add(tf.nn.conv2d(x, kernel, strides, padding),
                               bias)
            return self._finish(y, activation)

    def conv2d_transpose(self, x, filters, kernel_size, strides=1,
                         padding="SAME", activation=None, scope=None,
                         **unused):
        with tf.variable_scope(scope, default_name="conv2d_transpose"):
            kernel, bias = self._variables(
                list(kernel_size) + [filters, x.shape[-1]], filters)
            n, h, w = x.shape.as_list()[:3]
            if padding == "VALID":
                out = [n, (h - 1) * strides + kernel_size[0],
                       (w - 1) * strides + kernel_size[1], filters]
            else:
                out = [n, h * strides, w * strides, filters]
            y = tf.nn.bias_add(tf.nn.conv2d_transpose(
                x, kernel, out, strides, padding), bias)
            return self._finish(y, activation)

    def dense(self, x, units, activation=None, scope=None, **unused):
        with tf.variable_scope(scope, default_name="dense"):
            kernel, bias = self._variables([x.shape[-1], units], units)
            y = tf.nn.bias_add(tf.matmul(x, kernel), bias)
            return self._finish(y, activation)

    def nin(self, x, units, activation=None, scope=None, **unused):
        with tf.variable_scope(scope, default_name="nin"):
            kernel, bias = self._variables([x.shape[-1], units], units)
            y = tf.tensordot(x, kernel, [[x.shape.ndims - 1], [0]]) + bias
            return self._finish(y, activation)


class WeightNormLayers:
    """tf1-wn's layers (init passes ``init`` through)."""

    def __init__(self, init=False):
        self.init = init

    def conv2d(self, *args, **kwargs):
        return tf1_wn.conv2d(*args, init=self.init, **kwargs)

    def conv2d_transpose(self, *args, **kwargs):
        return tf1_wn.conv2d_transpose(*args, init=self.init, **kwargs)

    def dense(self, *args, **kwargs):
        return tf1_wn.dense(*args, init=self.init, **kwargs)

    def nin(self, *args, **kwargs):
        return tf1_wn.nin(*args, init=self.init, **kwargs)


# -- a PixelCNN++-shaped model, written over a layer set ----------------------

def _concat_elu(x):
    return tf.nn.elu(tf.concat([x, -x], 3))


def _down_shift(x):
    return tf.pad(x[:, :-1], [[0, 0], [1, 0], [0, 0], [0, 0]])


def _right_shift(x):
    return tf.pad(x[:, :, :-1], [[0, 0], [0, 0], [1, 0], [0, 0]])


def _shifted_conv(layers, x, filters, size, stride, right):
    """A conv that sees only the pixels above (and left, `right`)."""
    kh, kw = size
    left = kw - 1 if right else (kw - 1) // 2
    pads = [[0, 0], [kh - 1, 0], [left, 0 if right else (kw - 1) // 2],
            [0, 0]]
    return layers.conv2d(tf.pad(x, pads), filters, size, strides=stride,
                         padding="VALID")


def _shifted_deconv(layers, x, filters, size, right):
    kh, kw = size
    y = layers.conv2d_transpose(x, filters, size, strides=2,
                                padding="VALID")
    h, w = x.shape.as_list()[1:3]
    left = 0 if right else (kw - 1) // 2
    return y[:, :2 * h, left:left + 2 * w]


def _gated_resnet(layers, x, conv, skip=None):
    filters = x.shape.as_list()[-1]
    h = conv(_concat_elu(x), filters)
    if skip is not None:
        h += layers.nin(_concat_elu(skip), filters)
    h = conv(_concat_elu(h), 2 * filters)
    a, b = tf.split(h, 2, 3)
    return x + a * tf.sigmoid(b)


def pixelcnn_model(layers, x, filters, resnets, mixtures=5):
    def down(h, f=filters, stride=1, size=(2, 3)):
        return _shifted_conv(layers, h, f, size, stride, right=False)

    def down_right(h, f=filters, stride=1, size=(2, 2)):
        return _shifted_conv(layers, h, f, size, stride, right=True)

    u = _down_shift(down(x, size=(2, 3)))
    ul = _down_shift(down(x, size=(1, 3))) + _right_shift(
        down_right(x, size=(2, 1)))
    u_list, ul_list = [u], [ul]
    for scale in range(3):
        if scale:
            u_list.append(down(u_list[-1], stride=2))
            ul_list.append(down_right(ul_list[-1], stride=2))
        for _ in range(resnets):
            u_list.append(_gated_resnet(layers, u_list[-1], down))
            ul_list.append(_gated_resnet(layers, ul_list[-1], down_right,
                                         u_list[-1]))
    u, ul = u_list.pop(), ul_list.pop()
    for scale in range(3):
        if scale:
            u = _shifted_deconv(layers, u, filters, (2, 3), right=False)
            ul = _shifted_deconv(layers, ul, filters, (2, 2), right=True)
        for _ in range(resnets + (1 if scale else 0)):
            u = _gated_resnet(layers, u, down, u_list.pop())
            ul = _gated_resnet(layers, ul, down_right,
                               tf.concat([u, ul_list.pop()], 3))
    out = layers.nin(tf.nn.elu(ul), 10 * mixtures)
    return pixelcnn.discretized_mix_logistic_loss(x, out)


# -- an improved-gan-shaped GAN ----------------------------------------------

def _lrelu(x):
    return tf.nn.leaky_relu(x, 0.2)


def generator(layers, plain, z, width):
    h = plain.dense(z, 4 * 4 * 4 * width, activation=tf.nn.relu)
    h = tf.reshape(h, [-1, 4, 4, 4 * width])
    h = plain.conv2d_transpose(h, 2 * width, (5, 5), strides=2,
                               activation=tf.nn.relu)
    h = plain.conv2d_transpose(h, width, (5, 5), strides=2,
                               activation=tf.nn.relu)
    return layers.conv2d_transpose(h, 3, (5, 5), strides=2,
                                   activation=tf.tanh)


def discriminator(x, layers, width):
    h = x
    for index, (filters, stride) in enumerate(
            [(width, 1), (width, 1), (width, 2), (2 * width, 1),
             (2 * width, 1), (2 * width, 2)]):
        h = layers.conv2d(h, filters, (3, 3), strides=stride,
                          activation=_lrelu, scope=f"conv{index}")
    h = layers.nin(h, 2 * width, activation=_lrelu, scope="nin")
    features = tf.reduce_mean(h, [1, 2])
    return layers.dense(features, 10, scope="logits"), features


def gan_step(layers, plain, images, labels, z, width, prefix):
    with tf.variable_scope(prefix + "_gen"):
        fake = generator(layers, plain, z, width)
    disc = tf.make_template(prefix + "_disc", discriminator, layers=layers,
                            width=width)
    logits_real, features_real = disc(images)
    logits_fake, features_fake = disc(fake)
    loss_real = tf.reduce_mean(
        tf.nn.sparse_softmax_cross_entropy_with_logits(labels=labels,
                                                       logits=logits_real))
    loss_fake = tf.reduce_mean(tf.nn.softplus(
        tf.reduce_logsumexp(logits_fake, 1)))
    loss_gen = tf.reduce_mean(tf.square(
        tf.reduce_mean(features_real, 0) - tf.reduce_mean(features_fake, 0)))
    d_vars = tf.trainable_variables(prefix + "_disc")
    g_vars = tf.trainable_variables(prefix + "_gen")
    d_step = tf.train.AdamOptimizer(3e-4, 0.5).minimize(
        loss_real + loss_fake, var_list=d_vars)
    g_step = tf.train.AdamOptimizer(3e-4, 0.5).minimize(loss_gen,
                                                        var_list=g_vars)
    return tf.group(d_step, g_step)


# -- measuring ----------------------------------------------------------------

def _report(name, sess, plain, candidates, blocks, steps, extra=""):
    """Times `plain` and each ``(label, op)`` of `candidates` in the same
    interleaved blocks; prints one table row per candidate."""
    ops = [plain] + [op for _, op in candidates]
    timing = interleaved(sess, ops, steps, blocks)
    seconds, wall = timing["wall"]
    plain_memory = peak_bytes(sess, plain)
    for index, (label, op) in enumerate(candidates, 1):
        memory = peak_bytes(sess, op) / plain_memory
        low, mid, high = wall[index]
        cpu = timing["cpu"][1][index][1]
        print(f"| {name}, {label} | {seconds[0] * 1e3:.1f} | "
              f"{seconds[index] * 1e3:.1f} | {mid:.3f} ({low:.3f}-"
              f"{high:.3f}) | {cpu:.3f} | {memory:.3f}"
              f"{extra if index == 1 else ''} |", flush=True)


def pixelcnn_case(args, blocks, steps, threads):
    rng = np.random.default_rng(0)
    levels = rng.integers(0, 256, size=(args.batch, args.size, args.size, 3))
    graph = tf.Graph()
    with graph.as_default():
        x = tf.constant(((levels - 127.5) / 127.5).astype(np.float32))
        wn_model = tf.make_template(
            "wn", lambda x, init=False: pixelcnn_model(
                WeightNormLayers(init), x, args.filters, args.resnets))
        init_pass = wn_model(x, init=True)
        wn_loss = wn_model(x)
        plain_loss = tf.make_template(
            "plain", lambda x: pixelcnn_model(
                PlainLayers(), x, args.filters, args.resnets))(x)
        wn = tf.train.AdamOptimizer(1e-3, name="adam_wn").minimize(
            wn_loss, var_list=tf.trainable_variables("wn"))
        plain = tf.train.AdamOptimizer(1e-3, name="adam_plain").minimize(
            plain_loss, var_list=tf.trainable_variables("plain"))
        with tf1_wn.recompute_kernels():
            recomputed_loss = tf.make_template(
                "re", lambda x: pixelcnn_model(
                    WeightNormLayers(), x, args.filters, args.resnets))(x)
        recomputed = tf.train.AdamOptimizer(1e-3, name="adam_re").minimize(
            recomputed_loss, var_list=tf.trainable_variables("re"))
        gain_loss = tf.make_template(
            "gain", lambda x: pixelcnn_model(
                PlainLayers(output_gain=True), x, args.filters,
                args.resnets))(x)
        gain = tf.train.AdamOptimizer(1e-3, name="adam_gain").minimize(
            gain_loss, var_list=tf.trainable_variables("gain"))
        candidates = [("tf1-wn", wn), ("tf1-wn, recompute_kernels",
                                       recomputed),
                      ("plain + one per-channel variable", gain)]
        if args.pixel_cnn:
            layers = pixelcnn_nn.PixelCnnNnLayers(
                pixelcnn_nn.load_nn(args.pixel_cnn))
            theirs = tf.make_template("theirs", lambda x: pixelcnn_model(
                layers, x, args.filters, args.resnets))(x)
            candidates.append(("pixel-cnn nn.py", tf.train.AdamOptimizer(
                1e-3, name="adam_theirs").minimize(
                    theirs, var_list=tf.trainable_variables("theirs"))))
        init = tf1_wn.init_op()  # before the session sees the graph
        with session(graph, threads) as sess:
            sess.run(tf.global_variables_initializer())
            sess.run(init)
            init_memory = peak_bytes(sess, init_pass) / peak_bytes(sess,
                                                                   plain)
            _report(f"PixelCNN++ {args.size}x{args.size}, {args.filters} "
                    f"filters, {args.resnets} resnets/scale, batch "
                    f"{args.batch}", sess, plain, candidates, blocks, steps,
                    f" (init pass {init_memory:.2f})")


def gan_case(args, blocks, steps, threads):
    rng = np.random.default_rng(1)
    graph = tf.Graph()
    with graph.as_default():
        images = tf.constant(rng.uniform(
            -1, 1, size=(args.batch, 32, 32, 3)).astype(np.float32))
        labels = tf.constant(rng.integers(0, 10, size=args.batch))
        z = tf.random_uniform([args.batch, 100])
        plain_layers = PlainLayers()
        plain = gan_step(plain_layers, plain_layers, images, labels, z,
                         args.width, "plain")
        wn = gan_step(WeightNormLayers(), plain_layers, images, labels, z,
                      args.width, "wn")
        with tf1_wn.recompute_kernels():
            recomputed = gan_step(WeightNormLayers(), plain_layers, images,
                                  labels, z, args.width, "re")
        with session(graph, threads) as sess:
            sess.run(tf.global_variables_initializer())
            _report(f"GAN step 32x32, width {args.width}, batch "
                    f"{args.batch}", sess, plain,
                    [("tf1-wn", wn), ("tf1-wn, recompute_kernels",
                                      recomputed)], blocks, steps)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--batch", type=int, default=8)
    parser.add_argument("--size", type=int, default=16)
    parser.add_argument("--filters", type=int, default=32)
    parser.add_argument("--resnets", type=int, default=2)
    parser.add_argument("--width", type=int, default=48)
    parser.add_argument("--blocks", type=int, default=21)
    parser.add_argument("--steps-per-block", type=int, default=2)
    parser.add_argument("--pixel-cnn", metavar="DIR",
                        help="a clone of openai/pixel-cnn: also time the "
                        "PixelCNN++ net with its own pixel_cnn_pp/nn.py")
    parser.add_argument("--pin", action="store_true",
                        help="pin to one core with one thread (stable "
                        "figures, as bench_layers.py --pin)")
    parser.add_argument("--quick", action="store_true",
                        help="a tiny run that only proves the code runs")
    args = parser.parse_args(argv)
    threads = intra_op_threads(args.pin)
    if args.quick:
        args.blocks, args.steps_per_block = 3, 1
        args.size, args.filters, args.resnets, args.width = 8, 8, 1, 8
    print("| model | plain ms | WN ms | WN / plain, wall (IQR) | CPU | "
          "peak memory WN / plain |")
    print("|---|---|---|---|---|---|")
    pixelcnn_case(args, args.blocks, args.steps_per_block, threads)
    gan_case(args, args.blocks, args.steps_per_block, threads)


if __name__ == "__main__":
    main()
