"""Sequence classifier: WeightNormLSTMCell in dynamic_rnn on 8x8 digits.

Each sklearn digit (8x8 pixels) is read as a sequence of 8 rows of 8
features.  The LSTM's input projection is data-initialized on a batch
before training (`cell.data_init` + `tf1_wn.init_op`), then the model is
trained with Adam and evaluated on held-out digits.

    .venv/bin/python examples/sequence_classifier.py --steps 300
"""
import argparse

import numpy as np  # noqa: E402
from tf1_wn import quiet  # noqa: E402

quiet.import_tensorflow()  # without its C++ start-up lines
import tensorflow.compat.v1 as tf  # noqa: E402
from sklearn.datasets import load_digits  # noqa: E402

import tf1_wn  # noqa: E402


def load_data(rng):
    digits = load_digits()
    images = (digits.images / 16.0).astype(np.float32)  # [N, 8 rows, 8]
    order = rng.permutation(len(images))
    split = int(0.8 * len(images))
    train, test = order[:split], order[split:]
    return (images[train], digits.target[train],
            images[test], digits.target[test])


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=300)
    parser.add_argument("--units", type=int, default=64)
    parser.add_argument("--batch", type=int, default=64)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)

    tf.disable_eager_execution()
    # dynamic_rnn is TF1 API: its deprecation notice says nothing new here.
    tf.logging.set_verbosity(tf.logging.ERROR)
    rng = np.random.default_rng(args.seed)
    x_train, y_train, x_test, y_test = load_data(rng)

    with tf.Graph().as_default():
        tf.set_random_seed(args.seed)
        images = tf.placeholder(tf.float32, [None, 8, 8], name="images")
        labels = tf.placeholder(tf.int64, [None], name="labels")

        cell = tf1_wn.WeightNormLSTMCell(args.units)
        init_batch = x_train[rng.choice(len(x_train), 500, replace=False)]
        cell.data_init(images)  # fed with init_batch below
        _, state = tf.nn.dynamic_rnn(cell, images, dtype=tf.float32)
        logits = tf1_wn.dense(state.h, 10, scope="classifier")
        loss = tf.reduce_mean(tf.nn.sparse_softmax_cross_entropy_with_logits(
            labels=labels, logits=logits))
        accuracy = tf.reduce_mean(tf.cast(
            tf.equal(tf.argmax(logits, 1), labels), tf.float32))
        train = tf.train.AdamOptimizer(1e-2).minimize(loss)
        data_init = tf1_wn.init_op()

        with tf.Session() as sess:
            sess.run(tf.global_variables_initializer())
            sess.run(data_init, {images: init_batch})
            accuracy_value = sess.run(accuracy,
                                      {images: x_test, labels: y_test})
            print(f"after data init: test accuracy {accuracy_value:.3f}")
            for step in range(1, args.steps + 1):
                batch = rng.choice(len(x_train), args.batch, replace=False)
                value, _ = sess.run([loss, train], {
                    images: x_train[batch], labels: y_train[batch]})
                if step % 100 == 0 or step == args.steps:
                    print(f"step {step:4d}  loss {value:.3f}")
            final = sess.run(accuracy, {images: x_test, labels: y_test})
            print(f"test accuracy {final:.3f}")
    return final


if __name__ == "__main__":
    main()
