"""Fused CPU kernels, compiled on first use against the installed TensorFlow.

Composed from TensorFlow's own ops, weight standardization costs about 20
small ops per layer and training step and weight normalization about 10,
most of them broadcasting a per-channel vector over the kernel; on a CPU
each costs 10-30 us whatever the arithmetic, which is what makes small nets
slower.  The C++ kernels in ``tf1_wn/native/`` do the same arithmetic in one
op forward and one backward: ``Tf1WnStandardizeWeight`` for the ``ws_*``
layers, ``Tf1WnNormalizeWeight`` for the kernels of the weight-normalized
layers and recurrent cells, and for dense layers that scale their output
instead (`tf1_wn.normalization.scaled_matmul`) ``Tf1WnNormFactor`` and
``Tf1WnScaleColumns`` forward, one pass each over kernel and output, and
their gradients, which write over the buffers of the upstream gradient and
of the matmul's.  The unit-norm kernel of a data-init pass keeps composed
ops.

The library is built from source the first time it is needed, with the C++
compiler (``$CXX``, else ``g++``) and the flags of ``tf.sysconfig``, into a
cache directory (``$TF1_WN_CACHE_DIR``, else ``$XDG_CACHE_HOME/tf1_wn`` or
``~/.cache/tf1_wn``); the file name carries a hash of the source, the
TensorFlow version and the flags, so an upgrade rebuilds.  Building takes
about 20 s on two cores.  ``tf1-wn build-native`` builds it ahead of time
(for a Docker image, say).

The mode, ``$TF1_WN_NATIVE_OPS`` or `set_mode`:

* ``'auto'`` (default): CPU-placed layers use the kernels when they build;
  a failed build warns once and they use composed ops.
* ``'on'``: as auto, but a failed build raises `NativeOpsError`.
* ``'off'``: composed TensorFlow ops only.

In every mode, layers placed on a GPU use composed ops (the kernels are
CPU-only).  The decision is per layer, from the device its ops are placed
on (`tf1_wn.placement`), not per process: a CPU tower in a GPU process
uses the kernels, and a graph built for ``/GPU:0`` on a CPU host has none.

Both paths compute the same formulas (to float rounding) on the same
variables, so checkpoints move freely between them.  What the native path
changes: every process that runs or imports a graph with its ops
(``Tf1Wn*``) must have loaded the
library.  Call `load()` (whatever the mode and the devices) in each worker
and parameter server of TF's distributed runtime before starting its
``tf.train.Server``, and before ``tf.train.import_meta_graph`` of such a
graph (on a GPU host too: the graph's CPU-placed ops need the kernels).
TensorFlow Serving does not know the ops - build export graphs with
``TF1_WN_NATIVE_OPS=off``.  Second
derivatives through the native gradients of the kernels are not defined
(gradient penalties on the inputs, which only need first derivatives of
the normalization, work; the dense layers' upstream-gradient op has a
composed second derivative for them).
"""
import collections
import ctypes
import hashlib
import logging
import os
import re
import shlex
import shutil
import signal
import stat
import subprocess
import sys
import threading
import warnings

from tf1_wn import placement
from tf1_wn._tf import TF_VERSION, tf
from tf1_wn.errors import NativeOpsError
from tf1_wn.processes import pid_alive

MODES = ("auto", "on", "off")
_ENV_MODE = "TF1_WN_NATIVE_OPS"
_ENV_CACHE = "TF1_WN_CACHE_DIR"
_NATIVE_DIR = os.path.join(os.path.dirname(os.path.abspath(__file__)),
                           "native")
_SOURCES = [os.path.join(_NATIVE_DIR, name) for name in (
    "standardize_weight_op.cc", "weight_norm_op.cc", "scaled_product_op.cc")]
_HEADERS = [os.path.join(_NATIVE_DIR, name) for name in (
    "channel_loops.h", "weight_norm_factor.h")]
_BUILD_TIMEOUT_SECONDS = 600
_PR_SET_PDEATHSIG = 1  # linux/prctl.h

_LOG = logging.getLogger(__name__)
_lock = threading.Lock()
_state = {"mode": None, "library": None, "error": None, "warned": False}


def _parse_mode(value, source):
    normalized = {"1": "on", "true": "on", "0": "off", "false": "off"}.get(
        str(value).strip().lower(), str(value).strip().lower())
    if normalized not in MODES:
        raise ValueError(
            f"{source} must be one of 'auto', 'on', 'off' (or 1/0), got "
            f"{value!r}.")
    return normalized


def get_mode():
    """The current mode: ``'auto'``, ``'on'`` or ``'off'``."""
    if _state["mode"] is None:
        _state["mode"] = _parse_mode(os.environ.get(_ENV_MODE, "auto"),
                                     f"${_ENV_MODE}")
    return _state["mode"]


def set_mode(mode):
    """Sets the mode for graphs built from now on; returns the previous one.

    Args:
      mode: ``'auto'``, ``'on'`` or ``'off'``.

    Returns:
      The previous mode.

    Raises:
      ValueError: for any other value.
    """
    previous = get_mode()
    _state["mode"] = _parse_mode(mode, "`mode`")
    return previous


def cache_dir():
    """The directory built libraries are kept in."""
    if os.environ.get(_ENV_CACHE):
        return os.environ[_ENV_CACHE]
    base = os.environ.get("XDG_CACHE_HOME") or os.path.join(
        os.path.expanduser("~"), ".cache")
    return os.path.join(base, "tf1_wn")


def _compiler():
    return shlex.split(os.environ.get("CXX") or "g++")


def compiler_available():
    """Whether the C++ compiler (``$CXX``, else ``g++``) is on PATH."""
    return shutil.which(_compiler()[0]) is not None


def _build_flags():
    compile_flags = list(tf.sysconfig.get_compile_flags())
    link_flags = list(tf.sysconfig.get_link_flags())
    return compile_flags, link_flags


def library_path(directory=None):
    """Where the library for this source, TensorFlow and compiler lives.

    Args:
      directory: the cache directory (default `cache_dir()`).

    Returns:
      The path of the shared library; its name carries the TensorFlow
      version and a hash of the sources, compiler and flags.
    """
    compile_flags, link_flags = _build_flags()
    digest = hashlib.sha256()
    for path in _SOURCES + _HEADERS:
        with open(path, "rb") as source:
            digest.update(source.read())
    for part in [TF_VERSION, sys.platform, *_compiler(), *compile_flags,
                 *link_flags]:
        digest.update(part.encode() + b"\0")
    name = f"tf1_wn_native-tf{TF_VERSION}-{digest.hexdigest()[:16]}.so"
    return os.path.join(directory or cache_dir(), name)


def _private_dir(directory):
    """Creates `directory` (mode 0700) or checks that only this user can
    write it: a library loaded from it runs inside this process.

    Raises:
      NativeOpsError: the directory belongs to another user, others can
        write it, or this user cannot.
    """
    try:
        os.makedirs(directory, mode=0o700, exist_ok=True)
        info = os.stat(directory)
    except OSError as error:
        raise NativeOpsError(
            f"cache dir {directory!r} cannot be created: "
            f"{error.strerror}; set ${_ENV_CACHE} to a private directory."
        ) from None
    problem = None
    if info.st_uid != os.getuid():
        problem = f"belongs to uid {info.st_uid}, not to this user"
    elif info.st_mode & 0o022:
        problem = (f"is writable by its group or by everyone (mode "
                   f"{stat.S_IMODE(info.st_mode):o})")
    if problem:
        raise NativeOpsError(
            f"cache dir {directory!r} {problem}: refusing to load native "
            f"code from it; set ${_ENV_CACHE} to a private directory (or "
            f"chmod go-w it).")
    if not os.access(directory, os.W_OK):
        raise NativeOpsError(
            f"cache dir {directory!r} is not writable; set ${_ENV_CACHE} "
            "to a writable private directory.")


def _sha256(path):
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def verified(path):
    """Whether the library at `path` is one this user built, intact.

    It must belong to this user, be writable by nobody else, and match the
    SHA-256 its build wrote beside it (``<path>.sha256``): a truncated or
    corrupted file (which would crash the process when loaded) or a file
    planted by someone else does not pass.
    """
    try:
        info = os.lstat(path)
        with open(path + ".sha256") as f:
            recorded = f.read().strip()
    except OSError:
        return False
    if (not stat.S_ISREG(info.st_mode) or info.st_uid != os.getuid()
            or info.st_mode & 0o022):
        return False
    return _sha256(path) == recorded


def _remove_stale_temporaries(directory):
    """Removes the temporary files of builds whose process is dead."""
    pattern = re.compile(r"\.so\.(\d+)\.\d+\.tmp(\.\d+\.o|\.sha256)?\Z")
    for name in os.listdir(directory):
        match = pattern.search(name)
        if match and not pid_alive(int(match.group(1))):
            try:
                os.remove(os.path.join(directory, name))
            except OSError:
                pass


def build(directory=None, force=False):
    """Compiles the library unless a verified build is cached.

    The cache directory is created private (mode 0700) and must stay so; a
    cached library is used only when `verified` (else it is rebuilt).

    Args:
      directory: where to put it (default `cache_dir()`).
      force: rebuild even if a matching file exists.

    Returns:
      The path of the shared library.

    Raises:
      NativeOpsError: the directory is not private or not writable, no
        compiler, or the compiler failed (its output is in the message).
    """
    path = library_path(directory)
    _private_dir(os.path.dirname(path))
    if not force and verified(path):
        return path
    compiler = _compiler()
    if not compiler_available():
        raise NativeOpsError(
            f"no C++ compiler: {compiler[0]!r} is not on PATH (set $CXX, or "
            f"${_ENV_MODE}=off to use composed TensorFlow ops).")
    _remove_stale_temporaries(os.path.dirname(path))
    _compile(path, compiler)
    return path


def _compile(path, compiler):
    """Compiles and links the library into `path` with its sidecar."""
    _LOG.info("tf1_wn: compiling the native CPU kernels into %s (once per "
              "TensorFlow version, about 15-30 s)", path)
    compile_flags, link_flags = _build_flags()
    partial = f"{path}.{os.getpid()}.{threading.get_ident()}.tmp"
    objects = [f"{partial}.{index}.o" for index in range(len(_SOURCES))]
    # One compiler process per source, in parallel, then one link.
    compile_commands = [
        [*compiler, "-c", "-fPIC", "-O3", "-fopenmp-simd", "-w",
         *compile_flags, source, "-o", target]
        for source, target in zip(_SOURCES, objects)]
    link_command = [*compiler, "-shared", *objects, "-o", partial,
                    *link_flags]
    try:
        _run_all(compile_commands)
        _run_all([link_command])
        with open(partial + ".sha256", "w") as f:
            f.write(_sha256(partial) + "\n")
        # Atomic: concurrent builders each rename a complete file; the
        # library first, so a sidecar never vouches for an older file.
        os.replace(partial, path)
        os.replace(partial + ".sha256", path + ".sha256")
    finally:
        for leftover in [partial, partial + ".sha256", *objects]:
            if os.path.exists(leftover):
                os.remove(leftover)


def _die_with_parent():
    """In a compiler child: be killed when the building process dies, so a
    killed build leaves no orphan compilers (Linux; elsewhere a no-op)."""
    try:
        libc = ctypes.CDLL(None)
        libc.prctl(_PR_SET_PDEATHSIG, signal.SIGKILL)
    except (OSError, AttributeError):
        pass


def _run_all(commands):
    """Runs `commands` in parallel; raises NativeOpsError on any failure."""
    processes = [subprocess.Popen(command, stdout=subprocess.PIPE,
                                  stderr=subprocess.PIPE, text=True,
                                  preexec_fn=_die_with_parent)
                 for command in commands]
    failures = []
    for command, process in zip(commands, processes):
        try:
            _, stderr = process.communicate(timeout=_BUILD_TIMEOUT_SECONDS)
        except subprocess.TimeoutExpired:
            process.kill()
            process.communicate()
            failures.append(f"{shlex.join(command)}\ntook over "
                            f"{_BUILD_TIMEOUT_SECONDS} s")
            continue
        if process.returncode != 0:
            failures.append(f"{shlex.join(command)}\n(exit "
                            f"{process.returncode})\n{stderr[-4000:]}")
    if failures:
        raise NativeOpsError(f"compiling {_NATIVE_DIR} failed:\n"
                             + "\n".join(failures))


def _register_gradients(library):
    @tf.RegisterGradient("Tf1WnStandardizeWeight")
    def _standardize_weight_grad(op, grad, *unused_statistics_grads):
        del unused_statistics_grads  # mean, r and t are not differentiated
        kernel_grad, gain_grad = library.tf1_wn_standardize_weight_grad(
            grad, op.inputs[0], op.inputs[1], op.outputs[1], op.outputs[2],
            op.outputs[3], channels_begin=op.get_attr("channels_begin"),
            channels_end=op.get_attr("channels_end"),
            unbiased=op.get_attr("unbiased"))
        return kernel_grad, gain_grad, None  # eps is a constant

    @tf.RegisterGradient("Tf1WnNormalizeWeight")
    def _weight_norm_grad(op, grad, unused_inverse_grad):
        del unused_inverse_grad  # the inverse norm is not differentiated
        direction_grad, gain_grad = library.tf1_wn_normalize_weight_grad(
            grad, op.inputs[0], op.inputs[1], op.outputs[1],
            channels_begin=op.get_attr("channels_begin"),
            channels_end=op.get_attr("channels_end"))
        return direction_grad, gain_grad, None  # eps is a constant

    @tf.RegisterGradient("Tf1WnNormFactor")
    def _norm_factor_grad(op, factor_grad, unused_inverse_grad):
        # The factor alone: the scaled product's gradient with no matmul
        # part.
        del unused_inverse_grad
        direction = op.inputs[0]
        direction_grad, gain_grad = library.tf1_wn_scaled_product_grad(
            tf.zeros_like(direction), direction, op.inputs[1],
            op.outputs[1], factor_grad,
            channels_begin=op.get_attr("channels_begin"),
            channels_end=op.get_attr("channels_end"))
        return direction_grad, gain_grad, None  # eps is a constant

    @tf.RegisterGradient("Tf1WnScaleColumns")
    def _scale_columns_grad(op, grad):
        product_grad, factor_grad, bias_grad = \
            library.tf1_wn_scale_columns_grad(grad, op.inputs[0],
                                              op.inputs[1])
        return [product_grad, factor_grad] + [bias_grad] * op.get_attr("N")

    @tf.RegisterGradient("Tf1WnScaleColumnsGrad")
    def _scale_columns_second_derivative(op, product_grad_grad,
                                         factor_grad_grad, bias_grad_grad):
        # Composed: a gradient penalty on a dense layer's inputs reaches
        # the layer's upstream gradient through dh = dy * factor.
        grad, product, factor = op.inputs
        zeros = tf.zeros_like(factor)
        a = tf.zeros_like(grad) if product_grad_grad is None \
            else product_grad_grad
        b = zeros if factor_grad_grad is None else factor_grad_grad
        c = zeros if bias_grad_grad is None else bias_grad_grad
        return [a * factor + b * product + c, b * grad,
                tf.reduce_sum(a * grad, axis=0)]

    def _second_derivative(op, *unused_grads):
        raise LookupError(
            f"second derivatives through {op.type[:-4]} ({op.name}) are not "
            f"implemented by tf1-wn's native kernels; build the graph with "
            f"{_ENV_MODE}=off (or tf1_wn.native_ops.set_mode('off')) to "
            "differentiate twice.")

    for grad_op in ("Tf1WnStandardizeWeightGrad",
                    "Tf1WnNormalizeWeightGrad", "Tf1WnScaledProductGrad"):
        tf.RegisterGradient(grad_op)(_second_derivative)


def _load():
    """Builds (if needed) and loads the library once per process."""
    with _lock:
        if _state["library"] is None and _state["error"] is None:
            try:
                library = tf.load_op_library(build())
                _register_gradients(library)
                _state["library"] = library
            except (NativeOpsError, OSError, tf.errors.OpError) as error:
                _state["error"] = error
        return _state["library"], _state["error"]


def load():
    """Builds (if needed) and loads the library, whatever the mode and the
    devices: what a process importing or serving a graph with the native
    ops needs (a parameter server, a GPU host importing a MetaGraph built
    on a CPU host).

    Returns:
      The op module.

    Raises:
      NativeOpsError: the library cannot be built or loaded.
    """
    loaded, error = _load()
    if loaded is None:
        raise NativeOpsError(
            f"tf1_wn native ops unavailable: {error}") from error
    return loaded


def library():
    """The library for building CPU-placed layers, or None for composed ops.

    Returns:
      The op module, or None when the mode is ``'off'`` or (mode
      ``'auto'``) the build failed.

    Raises:
      NativeOpsError: mode ``'on'`` and the library cannot be built or
        loaded.
    """
    mode = get_mode()
    if mode == "off":
        return None
    loaded, error = _load()
    if loaded is not None:
        return loaded
    if mode == "on":
        raise NativeOpsError(f"tf1_wn native ops unavailable: {error}") \
            from error
    if not _state["warned"]:
        _state["warned"] = True
        warnings.warn(
            f"tf1_wn: native ops unavailable, using composed TensorFlow ops "
            f"(slower on small kernels): {error}", RuntimeWarning,
            stacklevel=3)
    return None


#: How a kernel maps onto the native ops: the loaded library, the channel
#: axes ``[channels_begin, channels_end)`` and the product of their sizes.
KernelLayout = collections.namedtuple(
    "KernelLayout", ["library", "channels_begin", "channels_end", "channels"])


def kernel_layout(shape, reduce_axes):
    """The native library and channel axes for a kernel, or None.

    The kernels see a kernel as an ``[outer, channels, inner]`` array, so
    the axes kept by `reduce_axes` must be adjacent; every layer's kernel
    qualifies (dense and conv: the last axis; transposed conv: axis 2;
    depthwise: the last two).

    Args:
      shape: the kernel's `tf.TensorShape` (or list).
      reduce_axes: the axes the statistics run over.

    Returns:
      A `KernelLayout`, or None where the composed ops run: a shape not
      fully known, kept axes that are not adjacent, mode ``'off'``, an op
      placed on a GPU here (`placement.runs_on_gpu`), or `library()` None.

    Raises:
      NativeOpsError: as `library()`.
    """
    shape = tf.TensorShape(shape)
    if not shape.is_fully_defined():
        return None
    sizes = shape.as_list()
    rank = len(sizes)
    reduced = {axis % rank for axis in reduce_axes}
    kept = [axis for axis in range(rank) if axis not in reduced]
    if not kept or kept[-1] - kept[0] + 1 != len(kept):
        return None
    if get_mode() == "off" or placement.runs_on_gpu():
        return None
    loaded = library()
    if loaded is None:
        return None
    channels = 1
    for axis in kept:
        channels *= sizes[axis]
    return KernelLayout(loaded, kept[0], kept[-1] + 1, channels)


def channel_vector(values, layout, dtype):
    """`values` (one per channel, any shape) as a ``[channels]`` vector of
    `dtype`, the form the native ops take a gain in."""
    values = tf.convert_to_tensor(values)
    if values.dtype != dtype:
        values = tf.cast(values, dtype)
    if values.shape.as_list() != [layout.channels]:
        values = tf.reshape(values, [layout.channels])
    return values
