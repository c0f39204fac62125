"""tf1-wn demo: weight normalization on the 8x8 digits, side by side.

Trains the same small CNN four ways, with the same seed, batches and budget:

  plain    ordinary kernels from tf.get_variable (Glorot init) plus a bias
  wn       tf1_wn layers, w = g * v / ||v||, default init (g = 1)
  wn_init  the same plus data-dependent init: one extra session.run on an
           init batch sets g and bias so every layer starts with unit-variance
           pre-activations
  bn       ordinary kernels plus batch normalization, for reference

then prints a results table and writes a PNG of the training-loss curves.
The data are scikit-learn's bundled digits (no download).

    python examples/demo.py                     # all four, defaults
    python examples/demo.py --steps 300 --models plain,wn_init --out /tmp/l.png
"""
import argparse
import os
import sys
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")  # hide TF's C++ chatter
# TF's plain CPU kernels: repeatable numbers across runs (and no banner).
os.environ.setdefault("TF_ENABLE_ONEDNN_OPTS", "0")

import numpy as np
import tensorflow.compat.v1 as tf

import tf1_wn

tf.disable_eager_execution()

MODELS = {
    "plain": "plain CNN",
    "wn": "weight norm",
    "wn_init": "weight norm + data init",
    "bn": "batch norm",
}
BATCH_SIZE = 64
LEARNING_RATE = 1e-3  # Adam's default, the same for every model


# --------------------------------------------------------------------------
# Data
# --------------------------------------------------------------------------

def load_data(seed):
    """Digits as float32 NHWC images in [0, 1]; a stratified 80/20 split."""
    from sklearn.datasets import load_digits
    from sklearn.model_selection import train_test_split
    digits = load_digits()
    images = (digits.images / 16.0).astype(np.float32)[..., None]
    return train_test_split(images, digits.target.astype(np.int64),
                            test_size=0.2, stratify=digits.target,
                            random_state=seed)


# --------------------------------------------------------------------------
# Model: 3 conv layers (8x8 -> 8x8 -> 4x4 -> 2x2), global pooling, dense
# --------------------------------------------------------------------------

def batch_norm(h, training, decay=0.9, eps=1e-3):
    """Minimal graph-mode batch norm over the batch and spatial axes.

    Training uses the batch statistics and adds moving-average updates to
    UPDATE_OPS; inference uses the moving averages.
    """
    channels = h.shape[-1]
    gamma = tf.get_variable(
        "gamma", [channels], initializer=tf.ones_initializer())
    beta = tf.get_variable(
        "beta", [channels], initializer=tf.zeros_initializer())
    moving_mean = tf.get_variable("moving_mean", [channels], trainable=False,
                                  initializer=tf.zeros_initializer())
    moving_var = tf.get_variable("moving_variance", [channels],
                                 trainable=False,
                                 initializer=tf.ones_initializer())
    if training:
        mean, var = tf.nn.moments(h, [0, 1, 2])
        for average, value in ((moving_mean, mean), (moving_var, var)):
            tf.add_to_collection(tf.GraphKeys.UPDATE_OPS, tf.assign(
                average, decay * average + (1 - decay) * value))
    else:
        mean, var = moving_mean, moving_var
    return tf.nn.batch_normalization(h, mean, var, beta, gamma, eps)


def conv_relu(h, filters, stride, kind, name, init, training):
    """One 3x3 convolution + ReLU in the flavour `kind`."""
    if kind.startswith("wn"):
        # The whole point of the library: a drop-in weight-normalized conv.
        return tf1_wn.conv2d(h, filters, 3, stride, activation=tf.nn.relu,
                             init=init, scope=name)
    with tf.variable_scope(name):
        kernel = tf.get_variable("kernel", [3, 3, h.shape[-1], filters])
        h = tf.nn.conv2d(h, kernel, stride, "SAME")
        if kind == "bn":
            h = batch_norm(h, training)  # BN's beta replaces the bias
        else:
            h += tf.get_variable("bias", [filters],
                                 initializer=tf.zeros_initializer())
        return tf.nn.relu(h)


def cnn(images, kind, init=False, training=True):
    """Logits of the digits CNN. Every call shares one set of variables."""
    with tf.variable_scope("cnn", reuse=tf.AUTO_REUSE):
        h = images
        for i, (filters, stride) in enumerate([(32, 1), (64, 2), (64, 2)]):
            h = conv_relu(h, filters, stride, kind, f"conv{i}", init, training)
        h = tf.reduce_mean(h, [1, 2])  # global average pooling
        if kind.startswith("wn"):
            return tf1_wn.dense(h, 10, init=init, scope="logits")
        with tf.variable_scope("logits"):
            w = tf.get_variable("kernel", [h.shape[-1], 10])
            b = tf.get_variable(
                "bias", [10], initializer=tf.zeros_initializer())
            return tf.matmul(h, w) + b


# --------------------------------------------------------------------------
# Training one model
# --------------------------------------------------------------------------

class ProgressBar:
    """A tiny text progress bar on stderr; plain lines when not a terminal."""

    def __init__(self, label, total, stream=sys.stderr):
        self.label, self.total, self.stream = label, total, stream
        self.tty = stream.isatty()
        self.last_draw = 0.0

    def update(self, step, loss):
        if self.tty:
            now = time.time()
            if now - self.last_draw < 0.1 and step < self.total:
                return
            self.last_draw = now
            filled = 30 * step // self.total
            self.stream.write(f"\r{self.label:<24} [{'#' * filled:<30}] "
                              f"{step}/{self.total} loss {loss:.3f}")
        elif step == self.total or step % max(1, self.total // 4) == 0:
            self.stream.write(f"{self.label:<24} step {step}/{self.total} "
                              f"loss {loss:.3f}\n")
        self.stream.flush()

    def close(self):
        if self.tty:
            self.stream.write("\n")
            self.stream.flush()


def train(kind, data, steps, seed, batch_size=BATCH_SIZE,
          learning_rate=LEARNING_RATE):
    """Trains one model; returns its per-step losses and final metrics."""
    x_train, x_test, y_train, y_test = data
    start = time.time()
    with tf.Graph().as_default():
        tf.set_random_seed(seed)  # same seed -> same initial v / kernels
        x = tf.placeholder(tf.float32, [None, 8, 8, 1])
        y = tf.placeholder(tf.int64, [None])

        if kind == "wn_init":
            # Data-dependent init: build once in init mode. This adds the
            # assign ops for every g and bias to tf1_wn.INIT_OPS.
            cnn(x, kind, init=True)
        logits = cnn(x, kind, training=True)
        loss = tf.reduce_mean(
            tf.nn.sparse_softmax_cross_entropy_with_logits(labels=y,
                                                           logits=logits))
        # Adam, as in the weight normalization paper (Salimans & Kingma 2016).
        optimizer = tf.train.AdamOptimizer(learning_rate)
        updates = tf.get_collection(tf.GraphKeys.UPDATE_OPS)
        with tf.control_dependencies(updates):
            train_op = optimizer.minimize(loss)

        eval_logits = cnn(x, kind, training=False)  # BN: moving averages
        eval_loss = tf.reduce_mean(
            tf.nn.sparse_softmax_cross_entropy_with_logits(
                labels=y, logits=eval_logits))
        accuracy = tf.reduce_mean(
            tf.cast(tf.equal(tf.argmax(eval_logits, 1), y), tf.float32))

        batches = np.random.RandomState(seed)  # same batches for every model
        config = tf.ConfigProto(intra_op_parallelism_threads=2,
                                inter_op_parallelism_threads=1)
        with tf.Session(config=config) as sess:
            sess.run(tf.global_variables_initializer())
            if kind == "wn_init":
                # Run every layer's g/bias assignment once, on 256 images.
                init_batch = np.random.RandomState(
                    seed).permutation(len(x_train))[:256]
                sess.run(tf1_wn.init_op(), {x: x_train[init_batch]})

            losses = []
            bar = ProgressBar(MODELS[kind], steps)
            train_start = time.time()
            for step in range(1, steps + 1):
                batch = batches.randint(0, len(x_train), batch_size)
                _, value = sess.run([train_op, loss],
                                    {x: x_train[batch], y: y_train[batch]})
                losses.append(value)
                bar.update(step, value)
            train_time = time.time() - train_start
            bar.close()

            final_loss = sess.run(eval_loss, {x: x_train, y: y_train})
            test_accuracy = sess.run(accuracy, {x: x_test, y: y_test})
    return dict(kind=kind, losses=np.array(losses), train_loss=final_loss,
                test_accuracy=test_accuracy,
                steps_per_second=steps / train_time,
                wall_time=time.time() - start)


# --------------------------------------------------------------------------
# Reporting
# --------------------------------------------------------------------------

def smooth(values, window=20):
    """Trailing moving average (shorter at the start): readable curves."""
    cumsum = np.cumsum(np.insert(np.asarray(values, np.float64), 0, 0.0))
    index = np.arange(1, len(values) + 1)
    lower = np.maximum(index - window, 0)
    return (cumsum[index] - cumsum[lower]) / (index - lower)


def results_table(results, steps):
    """The results as a Markdown table (also readable as plain text)."""
    early = max(1, steps // 10)
    lines = [
        f"| model | loss @ step {early} | final train loss | test accuracy "
        "| steps/s | wall time |",
        "|---|---:|---:|---:|---:|---:|",
    ]
    for r in results:
        lines.append(
            f"| {MODELS[r['kind']]} | {smooth(r['losses'])[early - 1]:.3f} "
            f"| {r['train_loss']:.4f} | {100 * r['test_accuracy']:.1f}% "
            f"| {r['steps_per_second']:.0f} | {r['wall_time']:.1f} s |")
    return "\n".join(lines)


def plot(results, path, seed):
    """Writes the smoothed training-loss curves to `path` (PNG, no display)."""
    import matplotlib
    matplotlib.use("Agg")  # works without a display
    import matplotlib.pyplot as plt
    fig, ax = plt.subplots(figsize=(7, 4.2))
    for r in results:
        steps = np.arange(1, len(r["losses"]) + 1)
        ax.plot(steps, smooth(r["losses"]), label=MODELS[r["kind"]])
    ax.set_yscale("log")
    ax.set_xlabel(f"training step (batch of {BATCH_SIZE})")
    ax.set_ylabel("training loss (moving average of 20)")
    ax.set_title(f"Digits 8x8 CNN, Adam {LEARNING_RATE:g}, seed {seed}")
    ax.grid(True, which="both", alpha=0.3)
    ax.legend()
    fig.tight_layout()
    os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
    fig.savefig(path, dpi=110)
    plt.close(fig)


def parse_args(argv=None):
    parser = argparse.ArgumentParser(
        description="Train a plain, a weight-normalized, a weight-normalized "
                    "+ data-initialized and a batch-normalized CNN on the "
                    "8x8 digits; print a table and plot the loss curves.")
    parser.add_argument("--steps", type=int, default=500,
                        help="training steps per model (default: %(default)s)")
    parser.add_argument("--seed", type=int, default=0,
                        help="seed for the split, init and batches "
                        "(default: %(default)s)")
    parser.add_argument("--out", default=os.path.join("out", "demo_loss.png"),
                        help="PNG to write (default: %(default)s)")
    parser.add_argument("--table", default=None,
                        help="also write the table as Markdown here "
                             "(default: demo_results.md next to --out)")
    parser.add_argument("--models", default=",".join(MODELS),
                        help="comma list of " + ", ".join(MODELS) +
                             " (default: all)")
    args = parser.parse_args(argv)
    args.models = [m.strip() for m in args.models.split(",") if m.strip()]
    unknown = [m for m in args.models if m not in MODELS]
    if unknown or not args.models:
        parser.error(
            f"--models: unknown {unknown}; choose from {list(MODELS)}")
    if args.steps < 1:
        parser.error("--steps must be positive")
    if args.table is None:
        args.table = os.path.join(os.path.dirname(args.out), "demo_results.md")
    return args


def main(argv=None):
    args = parse_args(argv)
    data = load_data(args.seed)
    print(f"digits: {len(data[0])} train / {len(data[1])} test images, "
          f"{args.steps} steps per model, seed {args.seed}")
    # The first use of tf1-wn's native CPU kernels compiles them (about
    # 20 s, once); doing it here keeps that out of the models' wall times.
    started = time.perf_counter()
    native = tf1_wn.native_ops.library() is not None
    print(f"native CPU kernels: {'on' if native else 'off (composed ops)'} "
          f"({time.perf_counter() - started:.1f} s)")
    results = [train(kind, data, args.steps, args.seed)
               for kind in args.models]

    table = results_table(results, args.steps)
    print("\n" + table)
    print(f"\nloss @ step {max(1, args.steps // 10)}: training loss "
          "averaged over the last "
          "20 batches (early convergence); final train loss: "
          "the whole training set after training.\n")
    plot(results, args.out, args.seed)
    os.makedirs(os.path.dirname(os.path.abspath(args.table)), exist_ok=True)
    with open(args.table, "w") as f:
        f.write(table + "\n")
    print(f"loss curves: {args.out}")
    print(f"table:       {args.table}")


if __name__ == "__main__":
    main()
