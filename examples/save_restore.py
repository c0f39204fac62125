"""Saving and restoring a weight-normalized model with tf.train.Saver.

Weight-normalized layers are ordinary `get_variable` variables (``v``, ``g``,
``bias`` per layer), so a plain `tf.compat.v1.train.Saver` checkpoints them.
The script trains briefly (with data init), saves, rebuilds the model in a
fresh graph WITHOUT the init pass (restored g and bias replace it), restores
and checks that the outputs are identical.

    python examples/save_restore.py [--steps 50] [--dir DIR]
"""
import argparse
import os
import tempfile

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
os.environ.setdefault("TF_ENABLE_ONEDNN_OPTS", "0")

import numpy as np
import tensorflow.compat.v1 as tf
from sklearn.datasets import load_digits

import tf1_wn

tf.disable_eager_execution()


def model(images, init=False):
    h = tf1_wn.conv2d(images, 16, 3, activation=tf.nn.relu,
                      init=init, scope="conv0")
    h = tf1_wn.conv2d(h, 32, 3, strides=2,
                      activation=tf.nn.relu, init=init, scope="conv1")
    h = tf.reshape(h, [-1, 4 * 4 * 32])
    return tf1_wn.dense(h, 10, init=init, init_scale=0.1, scope="logits")


def train_and_save(images, labels, steps, path):
    """Returns the trained model's logits on `images` after saving it."""
    with tf.Graph().as_default():
        tf.set_random_seed(0)
        x = tf.placeholder(tf.float32, [None, 8, 8, 1])
        y = tf.placeholder(tf.int64, [None])
        model(x, init=True)
        logits = model(x)
        loss = tf.reduce_mean(tf.nn.sparse_softmax_cross_entropy_with_logits(
            labels=y, logits=logits))
        train_op = tf.train.AdamOptimizer(3e-3).minimize(loss)
        # Save the model's variables only (not Adam's slots): the default
        # Saver() would save every global variable, which is fine too.
        saver = tf.train.Saver(tf.trainable_variables())
        rng = np.random.RandomState(0)
        with tf.Session() as sess:
            sess.run(tf.global_variables_initializer())
            sess.run(tf1_wn.init_op(), {x: images[:256]})
            for _ in range(steps):
                batch = rng.randint(0, len(images), 64)
                _, value = sess.run([train_op, loss], {
                                    x: images[batch], y: labels[batch]})
            print(f"trained {steps} steps, last loss {value:.4f}")
            saved = saver.save(sess, path)
            print("saved", saved)
            return sess.run(logits, {x: images})


def restore(images, path):
    """Rebuilds the model in a fresh graph, restores it, returns its logits."""
    with tf.Graph().as_default():
        x = tf.placeholder(tf.float32, [None, 8, 8, 1])
        logits = model(x)  # no init pass: the checkpoint holds g and bias
        saver = tf.train.Saver()
        with tf.Session() as sess:
            saver.restore(sess, path)
            return sess.run(logits, {x: images})


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=50)
    parser.add_argument(
        "--dir", help="checkpoint directory (default: a temporary one)")
    args = parser.parse_args()

    digits = load_digits()
    images = (digits.images / 16.0).astype(np.float32)[..., None]
    with tempfile.TemporaryDirectory() as tmp:
        path = os.path.join(args.dir or tmp, "model.ckpt")
        before = train_and_save(images, digits.target, args.steps, path)
        print("checkpoint variables:")
        for name, shape in tf.train.list_variables(path):
            print(f"  {name:<14} {shape}")
        after = restore(images, path)

    gap = np.abs(before - after).max()
    print(f"max |logits before save - logits after restore| = {gap:.1e}")
    print("outputs equal after restore:", bool(np.array_equal(before, after)))
    if not np.array_equal(before, after):
        raise SystemExit("restored model differs")


if __name__ == "__main__":
    main()
