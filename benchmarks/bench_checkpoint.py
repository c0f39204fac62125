"""Peak memory of `tf1-wn convert` and `fold` on a large checkpoint.

Writes a plain checkpoint of about --size-mb MiB (dense kernels of
--kernel-mb MiB each, with biases and an Adam slot per kernel) made on the
fly, then runs ``tf1-wn convert`` on it and ``tf1-wn fold`` on the result,
each in its own process, and reports each process's peak resident memory
next to that of a process that only imports tf1_wn and TensorFlow.  The
conversion streams bounded batches, so the figure to watch is

    (peak - import baseline) / largest tensor

which should stay near 2 plus the batch size (64 MiB) over the largest
tensor, whatever the checkpoint's total size.

    .venv/bin/python benchmarks/bench_checkpoint.py [--size-mb 512]
"""
import argparse
import os
import shutil
import subprocess
import sys
import tempfile

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import numpy as np  # noqa: E402


def _peak_rss_mb(argv):
    """Runs `argv`; returns (exit status, peak RSS of that process in MiB)."""
    process = subprocess.Popen(argv, stdout=subprocess.DEVNULL,
                               stderr=subprocess.PIPE)
    _, status, usage = os.wait4(process.pid, 0)
    process.returncode = os.waitstatus_to_exitcode(status)
    if process.returncode != 0:
        sys.exit(f"{argv} failed:\n{process.stderr.read().decode()[-2000:]}")
    return usage.ru_maxrss / 1024.0  # Linux reports KiB


def _write_plain(prefix, size_mb, kernel_mb):
    import tensorflow.compat.v1 as tf
    tf.disable_eager_execution()
    side = int(np.sqrt(kernel_mb * (1 << 20) / 4))
    count = max(1, int(size_mb // (2 * kernel_mb)))  # kernel + Adam slot
    rng = np.random.default_rng(0)
    with tf.Graph().as_default():
        values = {}
        for layer in range(count):
            kernel = rng.standard_normal((side, side), dtype=np.float32)
            values[f"fc{layer}/kernel"] = kernel
            values[f"fc{layer}/kernel/Adam"] = kernel
            values[f"fc{layer}/bias"] = np.zeros(side, np.float32)
        names = sorted(values)
        placeholders = [tf.placeholder(tf.float32, values[n].shape)
                        for n in names]
        save = tf.raw_ops.SaveV2(prefix=prefix, tensor_names=names,
                                 shape_and_slices=[""] * len(names),
                                 tensors=placeholders)
        with tf.Session() as session:
            session.run(save, dict(zip(placeholders,
                                       (values[n] for n in names))))
    total = sum(v.nbytes for v in values.values()) / (1 << 20)
    print(total, side * side * 4 / (1 << 20), count)


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--size-mb", type=float, default=512)
    parser.add_argument("--kernel-mb", type=float, default=64)
    parser.add_argument("--quick", action="store_true",
                        help="a 64 MiB checkpoint (proves the script runs)")
    parser.add_argument("--write", metavar="PREFIX", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.quick:
        args.size_mb, args.kernel_mb = 64, 8
    if args.write:  # the child that makes the checkpoint
        _write_plain(args.write, args.size_mb, args.kernel_mb)
        return
    work = tempfile.mkdtemp(prefix="tf1-wn-bench-")
    try:
        plain = os.path.join(work, "plain", "model.ckpt")
        # In a child: this process stays small, and its children's peak
        # RSS (which starts from the parent's at fork) means what it says.
        made = subprocess.run(
            [sys.executable, __file__, "--write", plain, "--size-mb",
             str(args.size_mb), "--kernel-mb", str(args.kernel_mb)],
            check=True, capture_output=True, text=True).stdout.split()
        total, largest, layers = float(made[-3]), float(made[-2]), int(
            made[-1])
        wn = os.path.join(work, "wn", "model.ckpt")
        folded = os.path.join(work, "folded", "model.ckpt")
        python = sys.executable
        baseline = _peak_rss_mb(
            [python, "-c", "import tf1_wn, tf1_wn.cli"])
        convert = _peak_rss_mb([python, "-m", "tf1_wn.cli", "convert",
                                plain, wn, "--keep-slots"])
        fold = _peak_rss_mb([python, "-m", "tf1_wn.cli", "fold", wn,
                             folded, "--keep-slots"])
    finally:
        shutil.rmtree(work, ignore_errors=True)
    print(f"checkpoint {total:.0f} MiB: {layers} dense kernels of "
          f"{largest:.0f} MiB, each with an Adam slot and a bias")
    print(f"{'process':<22}{'peak RSS MiB':>14}{'over import':>13}"
          f"{'/ largest':>11}")
    print(f"{'import tf1_wn':<22}{baseline:>14.0f}")
    for name, peak in (("tf1-wn convert", convert), ("tf1-wn fold", fold)):
        extra = peak - baseline
        print(f"{name:<22}{peak:>14.0f}{extra:>13.0f}"
              f"{extra / largest:>11.2f}")


if __name__ == "__main__":
    main()
