"""Polyak averaging (an exponential moving average of the weights).

The weight normalization paper evaluates with averaged parameters. With
tf1-wn:

* after each training step, ``ema.apply(trainable variables)`` updates the
  shadows of v, g and bias;
* a second copy of the model built with ``ema=ema`` reads those shadows (same
  scopes, so no new variables);
* after data init, run ``tf1_wn.sync_ema(ema)`` once: the shadows were
  created from the pre-init g and bias, and would otherwise drag the average
  towards them for hundreds of steps.

    python examples/polyak_ema.py [--steps 300] [--decay 0.99]
"""
import argparse
import os

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
os.environ.setdefault("TF_ENABLE_ONEDNN_OPTS", "0")

import numpy as np
import tensorflow.compat.v1 as tf
from sklearn.datasets import load_digits
from sklearn.model_selection import train_test_split

import tf1_wn

tf.disable_eager_execution()


def model(images, init=False, ema=None):
    h = tf1_wn.conv2d(images, 16, 3, activation=tf.nn.relu,
                      init=init, ema=ema, scope="conv0")
    h = tf1_wn.conv2d(h, 32, 3, strides=2, activation=tf.nn.relu,
                      init=init, ema=ema, scope="conv1")
    h = tf.reshape(h, [-1, 4 * 4 * 32])
    return tf1_wn.dense(h, 10, init=init, init_scale=0.1, ema=ema,
                        scope="logits")


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=300)
    parser.add_argument("--decay", type=float, default=0.99)
    args = parser.parse_args()

    digits = load_digits()
    images = (digits.images / 16.0).astype(np.float32)[..., None]
    x_train, x_test, y_train, y_test = train_test_split(
        images, digits.target, test_size=0.3, random_state=0)

    tf.set_random_seed(0)
    x = tf.placeholder(tf.float32, [None, 8, 8, 1])
    y = tf.placeholder(tf.int64, [None])
    model(x, init=True)
    logits = model(x)
    loss = tf.reduce_mean(tf.nn.sparse_softmax_cross_entropy_with_logits(
        labels=y, logits=logits))
    # A high learning rate makes the raw weights noisy: averaging pays off.
    step_op = tf.train.AdamOptimizer(1e-2).minimize(loss)

    ema = tf.train.ExponentialMovingAverage(args.decay)
    with tf.control_dependencies([step_op]):
        train_op = ema.apply(tf.trainable_variables())  # after each step
    averaged_logits = model(x, ema=ema)  # must come after ema.apply
    sync_op = tf1_wn.sync_ema(ema)       # must come after ema.apply too

    def accuracy(tensor):
        correct = tf.equal(tf.argmax(tensor, 1), y)
        return tf.reduce_mean(tf.cast(correct, tf.float32))
    raw_accuracy, averaged_accuracy = accuracy(
        logits), accuracy(averaged_logits)

    rng = np.random.RandomState(0)
    with tf.Session() as sess:
        sess.run(tf.global_variables_initializer())
        sess.run(tf1_wn.init_op(), {x: x_train[:256]})
        sess.run(sync_op)
        raw, averaged = sess.run([logits, averaged_logits], {x: x_test})
        print(f"after init + sync_ema: averaged model == raw model: "
              f"{np.allclose(raw, averaged)}")

        print(f"{'step':>5}  {'loss':>7}  {'raw test acc':>12}  "
              f"{'EMA test acc':>12}")
        for step in range(1, args.steps + 1):
            batch = rng.randint(0, len(x_train), 64)
            _, value = sess.run([train_op, loss], {
                                x: x_train[batch], y: y_train[batch]})
            if step % max(1, args.steps // 5) == 0 or step == args.steps:
                raw, averaged = sess.run([raw_accuracy, averaged_accuracy],
                                         {x: x_test, y: y_test})
                print(f"{step:5d}  {value:7.4f}  {raw:12.3f}  "
                      f"{averaged:12.3f}")


if __name__ == "__main__":
    main()
