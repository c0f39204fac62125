"""PixelCNN++-style training on tf1-wn, ported by changing imports.

A tiny autoregressive model in pixel-cnn's style (``model_spec`` with
``arg_scope``, shifted convolutions, gated resnets, a down/up pass with
shifted deconvolutions, a mixture of discretized logistics), trained the way
pixel-cnn's ``train.py`` trains: a ``make_template`` model, a data-init
pass, two towers, Polyak averaging and ``nn.adam_updates``.  The data are
sklearn's 8x8 digits as 3-channel images.

    .venv/bin/python examples/pixelcnn_port.py --steps 100

The port itself is the three import lines marked "was:"; the rest is written
as against pixel-cnn's ``nn.py``.  tf1-wn's additions used here:
``dropout_in_init=False`` (init the model that is evaluated) and
``tf1_wn.sync_ema`` (start the averages at the initialized values).
"""
import argparse
import os
import tempfile

import numpy as np
from tf1_wn import quiet

quiet.import_tensorflow()  # without its C++ start-up lines
import tensorflow.compat.v1 as tf  # noqa: E402  (was: import tensorflow)
from sklearn.datasets import load_digits  # noqa: E402
from tf_slim import arg_scope  # noqa: E402  (was: tf.contrib's arg_scope)

import tf1_wn  # noqa: E402
from tf1_wn.compat import pixelcnn as nn  # noqa: E402  (was: pixel_cnn_pp.nn)


def model_spec(x, init=False, ema=None, dropout_p=0.5, nr_filters=16,
               nr_logistic_mix=3):
    """Two streams (above, above-left), one down/up pass, a nin head."""
    counters = {}
    with arg_scope([nn.conv2d, nn.deconv2d, nn.gated_resnet, nn.dense],
                   counters=counters, init=init, ema=ema,
                   dropout_p=dropout_p):
        with arg_scope([nn.gated_resnet], dropout_in_init=False):
            pad = tf.concat([x, tf.ones(nn.int_shape(x)[:-1] + [1])], 3)
            u = nn.down_shift(nn.down_shifted_conv2d(
                pad, num_filters=nr_filters, filter_size=[2, 3]))
            ul = nn.down_shift(nn.down_shifted_conv2d(
                pad, num_filters=nr_filters, filter_size=[1, 3])) + \
                nn.right_shift(nn.down_right_shifted_conv2d(
                    pad, num_filters=nr_filters, filter_size=[2, 1]))
            u = nn.gated_resnet(u, conv=nn.down_shifted_conv2d)
            ul = nn.gated_resnet(ul, u, conv=nn.down_right_shifted_conv2d)
            u_small = nn.down_shifted_conv2d(u, num_filters=nr_filters,
                                             stride=[2, 2])
            ul_small = nn.down_right_shifted_conv2d(
                ul, num_filters=nr_filters, stride=[2, 2])
            u_small = nn.gated_resnet(u_small, conv=nn.down_shifted_conv2d)
            ul_small = nn.gated_resnet(ul_small, u_small,
                                       conv=nn.down_right_shifted_conv2d)
            u = u + nn.down_shifted_deconv2d(u_small, num_filters=nr_filters,
                                             stride=[2, 2])
            ul = ul + nn.down_right_shifted_deconv2d(
                ul_small, num_filters=nr_filters, stride=[2, 2])
            ul = nn.gated_resnet(ul, tf.concat([u, ul], 3),
                                 conv=nn.down_right_shifted_conv2d)
            return nn.nin(tf.nn.elu(ul), 10 * nr_logistic_mix)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=100)
    parser.add_argument("--batch", type=int, default=16)
    parser.add_argument("--seed", type=int, default=1)
    args = parser.parse_args(argv)
    tf.disable_eager_execution()
    rng = np.random.RandomState(args.seed)
    tf.set_random_seed(args.seed)
    digits = load_digits().images.astype(np.float32) / 16.0
    data = np.repeat(digits[..., None], 3, axis=3) * 2.0 - 1.0  # [-1, 1]
    data = np.round((data + 1) * 127.5) / 127.5 - 1  # 256 levels

    model = tf.make_template("model", model_spec)
    batch = [args.batch, 8, 8, 3]
    x_init = tf.placeholder(tf.float32, batch)
    init_pass = model(x_init, init=True)
    params = tf.trainable_variables()
    ema = tf.train.ExponentialMovingAverage(decay=0.99)
    maintain_averages = ema.apply(params)

    towers = [tf.placeholder(tf.float32, batch) for _ in range(2)]
    losses, grads = [], []
    for x in towers:  # as train.py: one tower per device
        with tf.device("/cpu:0"):
            out = model(x)
            losses.append(nn.discretized_mix_logistic_loss(x, out))
            grads.append(tf.gradients(losses[-1], params))
    test_loss = nn.discretized_mix_logistic_loss(
        towers[0], model(towers[0], ema=ema, dropout_p=0.))
    total = [a + b for a, b in zip(*grads)]
    train = tf.group(nn.adam_updates(params, total, lr=0.002, mom2=0.999),
                     maintain_averages)
    bits = 1.0 / (2 * np.prod(batch) * np.log(2.0))  # nats -> bits/dim

    def feed():
        return {x: data[rng.randint(len(data), size=args.batch)]
                for x in towers}

    with tf.Session() as sess:
        sess.run(tf.global_variables_initializer())
        sess.run(init_pass, {x_init: data[:args.batch]})
        sess.run(tf1_wn.sync_ema(ema))
        fixed = feed()
        start = sess.run(losses[0] + losses[1], fixed) * bits
        print("after data init: %.3f bits/dim" % start)
        for step in range(1, args.steps + 1):
            sess.run(train, feed())
            if step % max(args.steps // 5, 1) == 0:
                print("step %4d: %.3f bits/dim" % (
                    step, sess.run(losses[0] + losses[1], fixed) * bits))
        end = sess.run(losses[0] + losses[1], fixed) * bits
        averaged = sess.run(test_loss, fixed) * 2 * bits
        path = os.path.join(tempfile.mkdtemp(), "pixelcnn.ckpt")
        tf.train.Saver().save(sess, path, write_meta_graph=False)
        names = sorted(name for name, _ in tf.train.list_variables(path))
    print("final: %.3f bits/dim (Polyak average: %.3f)" % (end, averaged))
    print("checkpoint names like pixel-cnn's: %s" % ", ".join(
        n for n in names if n.startswith("model/conv2d_0/")))
    return start, end


if __name__ == "__main__":
    main()
