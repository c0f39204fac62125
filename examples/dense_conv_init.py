"""Dense and conv layers with data-dependent initialization.

The recipe (Salimans & Kingma 2016, section 2.2):

1. build the model once with ``init=True`` on an init batch: this adds one
   assign op per layer (for its g and bias) to ``tf1_wn.INIT_OPS``;
2. build it again with ``init=False`` (same scopes, so same variables) for
   training;
3. run ``tf.global_variables_initializer()``, then ``tf1_wn.init_op()`` once
   with the init batch fed.

Afterwards every layer's pre-activation has mean 0 and std 1 on that batch.
The script prints those statistics before and after, then trains briefly.
It uses both APIs: a layer object (`WeightNormConv2D`) and the functional
layers (`tf1_wn.conv2d`, `tf1_wn.dense`).

    python examples/dense_conv_init.py [--steps 200]
"""
import argparse
import os

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
os.environ.setdefault("TF_ENABLE_ONEDNN_OPTS", "0")

import numpy as np
import tensorflow.compat.v1 as tf
from sklearn.datasets import load_digits

import tf1_wn

tf.disable_eager_execution()


def build(images, conv0, init):
    """Returns (logits, pre-activations by layer name).

    `conv0` is a layer object: it owns its scope, so calling it twice shares
    its variables. The functional layers share theirs through `scope=`.
    """
    pre = {}
    pre["conv0"] = conv0(images, init=init)
    h = tf.nn.relu(pre["conv0"])
    pre["conv1"] = tf1_wn.conv2d(h, 32, 3, strides=2, init=init, scope="conv1")
    h = tf.nn.relu(pre["conv1"])
    h = tf.reshape(h, [-1, 4 * 4 * 32])
    pre["dense"] = tf1_wn.dense(h, 64, init=init, scope="dense")
    h = tf.nn.relu(pre["dense"])
    logits = tf1_wn.dense(h, 10, init=init, init_scale=0.1, scope="logits")
    pre["logits"] = logits
    return logits, pre


def describe(sess, pre, feed):
    """One line per layer: mean and std of its per-channel statistics."""
    values = sess.run(pre, feed)
    for name, value in values.items():
        axes = tuple(range(value.ndim - 1))  # all but the channel axis
        print(f"  {name:<7} channel means {value.mean(axes).mean():+.3f}   "
              f"channel stds {value.std(axes).mean():.3f}")


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=200)
    args = parser.parse_args()

    digits = load_digits()
    images = (digits.images / 16.0).astype(np.float32)[..., None]
    labels = digits.target
    rng = np.random.RandomState(0)
    init_batch = images[rng.permutation(len(images))[:500]]

    tf.set_random_seed(0)
    x = tf.placeholder(tf.float32, [None, 8, 8, 1])
    y = tf.placeholder(tf.int64, [None])
    conv0 = tf1_wn.WeightNormConv2D(16, 3, name="conv0")
    _, init_pre = build(x, conv0, init=True)   # 1. adds ops to INIT_OPS
    logits, pre = build(x, conv0, init=False)  # 2. the training model
    loss = tf.reduce_mean(tf.nn.sparse_softmax_cross_entropy_with_logits(
        labels=y, logits=logits))
    train_op = tf.train.AdamOptimizer(3e-3).minimize(loss)
    accuracy = tf.reduce_mean(
        tf.cast(tf.equal(tf.argmax(logits, 1), y), tf.float32))

    print("variables:", ", ".join(v.op.name for v in tf.trainable_variables()))
    with tf.Session() as sess:
        sess.run(tf.global_variables_initializer())
        print("pre-activations on the init batch, default init (g=1, bias=0):")
        describe(sess, pre, {x: init_batch})
        sess.run(tf1_wn.init_op(), {x: init_batch})  # 3. data init, once
        print("after tf1_wn.init_op() (logits use init_scale=0.1):")
        describe(sess, pre, {x: init_batch})
        # The init-mode outputs equal the normal outputs after init.
        gap = max(np.abs(a - b).max() for a, b in zip(
            *sess.run([list(init_pre.values()), list(pre.values())],
                      {x: init_batch})))
        print(f"max |init-mode output - normal output| = {gap:.2e}")

        for step in range(1, args.steps + 1):
            batch = rng.randint(0, len(images), 64)
            _, value = sess.run([train_op, loss], {
                                x: images[batch], y: labels[batch]})
            if step % max(1, args.steps // 4) == 0 or step == args.steps:
                print(f"step {step:4d}  loss {value:.4f}")
        print(f"accuracy on all digits: "
              f"{sess.run(accuracy, {x: images, y: labels}):.3f}")


if __name__ == "__main__":
    main()
