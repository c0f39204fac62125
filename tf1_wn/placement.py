"""Where an op about to be built will run: the per-layer device decision.

Two choices depend on the device a layer's ops run on, not on the process
that builds the graph: the fused native kernels exist for the CPU only,
and TensorFlow's CPU kernels lack the channels-first gradients and the
dilated-conv gradients that GPUs have.  A graph built on a CPU host for a
GPU (``tf.device('/GPU:0')``), or a CPU tower or eval graph in a GPU
process, must get the ops of where it runs.

The device is the one the current device scope gives a new op (a probe
``NoOp`` is created to read it, the only public way that also follows
device functions such as `replica_device_setter`).  Without a device type
in it, the op runs where TensorFlow places it by default: on a GPU if this
process sees one.
"""
from tf1_wn._tf import tf


def gpu_visible():
    """Whether this process sees a GPU.

    ``tf.config.set_visible_devices([], 'GPU')`` hides them, and counts as
    no GPU.
    """
    if not tf.config.list_physical_devices("GPU"):
        return False
    return bool(tf.config.get_visible_devices("GPU"))


def device_type():
    """The device type (``'CPU'``, ``'GPU'`` ...) a new op in the default
    graph's current device scope is given, or None if the scope names
    none."""
    probe = tf.no_op(name="tf1_wn_placement")
    if not probe.device:
        return None
    return tf.DeviceSpec.from_string(probe.device).device_type


def runs_on_gpu():
    """Whether an op built here runs on a GPU (see the module docstring).

    Returns:
      True for a GPU device scope, False for another device type, and
      `gpu_visible()` for a scope without a device type.
    """
    kind = device_type()
    if kind is None:
        return gpu_visible()
    return kind.upper() == "GPU"
