"""Reading and safely writing name-based (tf.train.Saver V2) checkpoints.

Writing never touches the input and never replaces an existing output
unless asked: the tensors are saved under a temporary prefix in a hidden
directory next to the output, then the ``.data-*`` files and finally the
``.index`` file are renamed into place.  A ``checkpoint`` state file (what
`tf.train.latest_checkpoint` reads) is written only when the output directory
has none; an existing one is never modified.
"""
import os
import uuid

import numpy as np

from tf1_wn.checkpoint import errors
from tf1_wn._tf import tf
from tf1_wn.checkpoint.plan import VariableInfo

_gfile = tf.io.gfile

#: Key of the object graph in object-based (TF2 `tf.train.Checkpoint`)
#: checkpoints; it describes the old names, so it is not carried over.
OBJECT_GRAPH_KEY = "_CHECKPOINTABLE_OBJECT_GRAPH"


def resolve_checkpoint(path):
    """The checkpoint prefix `path` names.

    Args:
      path: a checkpoint prefix (``dir/model.ckpt-100``) or a directory with
        a ``checkpoint`` state file.

    Returns:
      The prefix (``<prefix>.index`` exists).

    Raises:
      CheckpointNotFoundError: nothing readable at `path`.
    """
    if not path:
        raise errors.CheckpointNotFoundError("checkpoint path is empty")
    if _gfile.isdir(path):
        prefix = tf.train.latest_checkpoint(path)
        if prefix is None:
            raise errors.CheckpointNotFoundError(
                "checkpoint %r: directory has no 'checkpoint' state file "
                "naming a checkpoint; pass the checkpoint prefix instead "
                "(e.g. %s)" % (path, os.path.join(path, "model.ckpt-1000")))
        path = prefix
    if not _gfile.exists(path + ".index"):
        hint = ""
        if path.endswith(".index") or ".data-" in path:
            hint = " (pass the prefix, without .index / .data-*)"
        raise errors.CheckpointNotFoundError(
            "checkpoint %r not found: no file %r%s"
            % (path, path + ".index", hint))
    return path


class CheckpointContents(object):
    """Read access to one checkpoint's variables.

    Attributes:
      prefix: the resolved checkpoint prefix.
      variables: dict ``name -> VariableInfo(shape list, numpy dtype)``
        (without the object-graph entry of TF2 checkpoints).
      has_object_graph: whether the checkpoint is object-based.
    """

    def __init__(self, path):
        self.prefix = resolve_checkpoint(path)
        try:
            self._reader = tf.train.load_checkpoint(self.prefix)
        except (tf.errors.OpError, ValueError) as error:
            raise errors.CheckpointError("checkpoint %r cannot be read: %s"
                                         % (self.prefix, error)) from None
        shapes = self._reader.get_variable_to_shape_map()
        dtypes = self._reader.get_variable_to_dtype_map()
        self.has_object_graph = OBJECT_GRAPH_KEY in shapes
        self.variables = {
            name: VariableInfo(list(shapes[name]),
                               tf.as_dtype(dtypes[name]).as_numpy_dtype)
            for name in shapes if name != OBJECT_GRAPH_KEY}

    def read(self, name):
        """The value of variable `name` as a NumPy array."""
        return np.asarray(self._reader.get_tensor(name))


def output_prefix(out, input_prefix):
    """The prefix to write: `out`, or ``out/<input basename>`` when `out` is
    an existing directory or ends with a path separator."""
    if out.endswith(("/", os.sep)) or _gfile.isdir(out):
        return os.path.join(out, os.path.basename(input_prefix))
    return out


def _existing_files(prefix):
    return _gfile.glob(prefix + ".index") + _gfile.glob(prefix + ".data-*")


def check_output(prefix, input_prefix, force):
    """Raises unless writing `prefix` is allowed.

    Raises:
      CheckpointError: `prefix` is the input checkpoint (never allowed).
      OutputExistsError: files of `prefix` exist and not `force`.
    """
    if os.path.abspath(prefix) == os.path.abspath(input_prefix):
        raise errors.CheckpointError(
            "output %r is the input checkpoint; the input is never modified, "
            "choose another output prefix" % (prefix,))
    existing = _existing_files(prefix)
    if existing and not force:
        raise errors.OutputExistsError(
            "output %r exists (%s); pass --force / force=True to replace it"
            % (prefix, ", ".join(sorted(existing))))


def _save(prefix, tensors):
    """Runs SaveV2 (the op tf.train.Saver uses) in a throwaway graph."""
    names = sorted(tensors)
    with tf.Graph().as_default():
        placeholders = []
        feed = {}
        for name in names:
            value = tensors[name]
            ph = tf.placeholder(tf.as_dtype(value.dtype), shape=value.shape)
            placeholders.append(ph)
            feed[ph] = value
        save = tf.raw_ops.SaveV2(prefix=prefix, tensor_names=names,
                                 shape_and_slices=[""] * len(names),
                                 tensors=placeholders)
        with tf.Session(config=tf.ConfigProto(
                device_count={"GPU": 0})) as session:
            session.run(save, feed_dict=feed)


def write_checkpoint(prefix, tensors, force=False, state_file=True):
    """Writes `tensors` as checkpoint `prefix`, atomically per file.

    Args:
      prefix: output checkpoint prefix; its directory is created if needed.
      tensors: dict ``name -> numpy array`` (at least one).
      force: replace an existing checkpoint `prefix`.
      state_file: write a ``checkpoint`` state file naming `prefix` when the
        directory has none.

    Returns:
      The list of files written.

    Raises:
      OutputExistsError: `prefix` exists and not `force`.
      CheckpointError: nothing to write.
    """
    if not tensors:
        raise errors.CheckpointError("nothing to write to %r: the result has "
                                     "no variables" % (prefix,))
    directory = os.path.dirname(os.path.abspath(prefix))
    base = os.path.basename(prefix)
    _gfile.makedirs(directory)
    tmp_dir = os.path.join(directory, ".tf1-wn-tmp-" + uuid.uuid4().hex)
    _gfile.makedirs(tmp_dir)
    try:
        _save(os.path.join(tmp_dir, base), tensors)
        stale = set(_existing_files(prefix))
        if stale and not force:  # appeared while we were saving
            raise errors.OutputExistsError(
                "output %r appeared while writing; nothing was replaced"
                % (prefix,))
        written = []
        new_files = sorted(_gfile.glob(os.path.join(tmp_dir, base + ".*")))
        # data shards first, the index (which makes it a checkpoint) last
        new_files.sort(key=lambda f: f.endswith(".index"))
        for source in new_files:
            target = os.path.join(directory, os.path.basename(source))
            _gfile.rename(source, target, overwrite=True)
            written.append(target)
            stale.discard(target)
        for leftover in stale:  # shards of a replaced, larger checkpoint
            _gfile.remove(leftover)
        state = os.path.join(directory, "checkpoint")
        if state_file and not _gfile.exists(state):
            tmp_state = os.path.join(tmp_dir, "checkpoint")
            with _gfile.GFile(tmp_state, "w") as f:
                f.write('model_checkpoint_path: "%s"\n'
                        'all_model_checkpoint_paths: "%s"\n' % (base, base))
            _gfile.rename(tmp_state, state, overwrite=False)
            written.append(state)
        return written
    finally:
        if _gfile.exists(tmp_dir):
            _gfile.rmtree(tmp_dir)
