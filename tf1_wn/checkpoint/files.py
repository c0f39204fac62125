"""Reading and safely writing name-based (tf.train.Saver V2) checkpoints.

Guarantees (docs/checkpoints.md, "Safety"):

* Paths are literal: glob metacharacters in a name are characters, never
  patterns (TensorFlow's reader globs, so an input whose name has them is
  read through a private alias).
* The input is never written, whatever path reaches it: an output whose
  files are the input's (the same prefix through a symlinked directory, a
  hard link) is refused.
* Writing is crash-safe: the result is saved under a private temporary
  directory next to the output, one bounded batch of variables at a time
  (`write_checkpoint` streams), merged, and only then swapped in.  The
  swap moves the old files into that directory (the ``.index`` first, so
  the old checkpoint stops looking valid before any of its data moves),
  the new data files in, and the new ``.index`` last, which is the switch.
  A run killed in between leaves a journal that the next write into the
  directory finishes: back to the old checkpoint before the switch,
  forward after it.  Readers see the old checkpoint, no checkpoint, or the
  new one, never a mix.
* A ``checkpoint`` state file (what `tf.train.latest_checkpoint` reads) is
  written only when the output directory has none.
"""
import errno
import json
import os
import re
import shutil
import tempfile
import uuid

import numpy as np

from tf1_wn._tf import tf
from tf1_wn.checkpoint import errors
from tf1_wn.checkpoint.plan import VariableInfo
from tf1_wn.processes import pid_alive

#: Key of the object graph in object-based (TF2 `tf.train.Checkpoint`)
#: checkpoints; it describes the old names, so it is not carried over.
OBJECT_GRAPH_KEY = "_CHECKPOINTABLE_OBJECT_GRAPH"

#: Prefix of the private temporary directories next to an output.
TEMP_PREFIX = ".tf1-wn-tmp-"
_JOURNAL = "journal.json"
_DATA_SUFFIX = re.compile(r"\.data-\d{5}-of-\d{5}\Z")
_GLOB_CHARACTERS = re.compile(r"[*?\[\]]")


def _first_line(error):
    """A TensorFlow or OS error as one line."""
    message = getattr(error, "message", None) or str(error)
    return message.strip().splitlines()[0] if message.strip() else repr(error)


def checkpoint_files(prefix):
    """The files of checkpoint `prefix` that exist, by exact name.

    Args:
      prefix: a checkpoint prefix (taken literally).

    Returns:
      The sorted paths of ``<prefix>.index`` and ``<prefix>.data-*-of-*``.
    """
    directory, base = os.path.split(os.path.abspath(prefix))
    try:
        names = os.listdir(directory)
    except FileNotFoundError:
        return []
    return sorted(
        os.path.join(directory, name) for name in names
        if name == base + ".index" or (name.startswith(base) and
                                       _DATA_SUFFIX.fullmatch(
                                           name[len(base):]) is not None))


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
    if os.path.isdir(path):
        prefix = tf.train.latest_checkpoint(path)
        if prefix is None:
            raise errors.CheckpointNotFoundError(
                f"checkpoint {path!r}: directory has no 'checkpoint' state "
                "file naming a checkpoint; pass the checkpoint prefix "
                f"instead (e.g. {os.path.join(path, 'model.ckpt-1000')})")
        path = prefix
    if not os.path.isfile(path + ".index"):
        hint = ""
        if path.endswith(".index") or ".data-" in path:
            hint = " (pass the prefix, without .index / .data-*)"
        raise errors.CheckpointNotFoundError(
            f"checkpoint {path!r} not found: no file {path + '.index'!r}"
            f"{hint}")
    return path


class CheckpointContents:
    """Read access to one checkpoint's variables.

    Attributes:
      prefix: the resolved checkpoint prefix.
      variables: dict ``name -> VariableInfo(shape list, numpy dtype)``
        (without the object-graph entry of TF2 checkpoints).
      has_object_graph: whether the checkpoint is object-based.
      files: the checkpoint's files (its ``.index`` and data shards).

    Raises:
      CheckpointNotFoundError: nothing at the path.
      CheckpointError: the index or a data shard cannot be read.
    """

    def __init__(self, path):
        self.prefix = resolve_checkpoint(path)
        self.files = checkpoint_files(self.prefix)
        self._alias_dir = None
        readable = self.prefix
        if _GLOB_CHARACTERS.search(os.path.basename(self.prefix)):
            readable = self._alias()
        try:
            self._reader = tf.train.load_checkpoint(readable)
        except (tf.errors.OpError, ValueError) as error:
            raise errors.CheckpointError(
                f"checkpoint {self.prefix!r} cannot be read: "
                f"{_first_line(error)}") from None
        shapes = self._reader.get_variable_to_shape_map()
        dtypes = self._reader.get_variable_to_dtype_map()
        self.has_object_graph = OBJECT_GRAPH_KEY in shapes
        self.variables = {
            name: VariableInfo(list(shapes[name]),
                               tf.as_dtype(dtypes[name]).as_numpy_dtype)
            for name in shapes if name != OBJECT_GRAPH_KEY}

    def _alias(self):
        """A private directory of symlinks with a plain name, since
        TensorFlow's reader takes the prefix as a glob pattern."""
        self._alias_dir = tempfile.mkdtemp(prefix="tf1-wn-read-")
        base = os.path.basename(self.prefix)
        for path in self.files:
            os.symlink(path, os.path.join(
                self._alias_dir, "ckpt" + os.path.basename(path)[len(base):]))
        return os.path.join(self._alias_dir, "ckpt")

    def read(self, name):
        """The value of variable `name` as a NumPy array.

        Raises:
          CheckpointError: its data cannot be read (a truncated, corrupted
            or missing shard).
        """
        try:
            return np.asarray(self._reader.get_tensor(name))
        # The reader reports a short read as IndexError, other damage as
        # RuntimeError or an OpError.
        except (tf.errors.OpError, ValueError, IndexError,
                RuntimeError) as error:
            raise errors.CheckpointError(
                f"checkpoint {self.prefix!r}: variable {name!r} cannot be "
                f"read: {_first_line(error)}") from None

    def __del__(self):
        if getattr(self, "_alias_dir", None):
            shutil.rmtree(self._alias_dir, ignore_errors=True)


def output_prefix(out, input_prefix):
    """The prefix to write: `out`, or ``out/<input basename>`` when `out` is
    an existing directory or ends with a path separator."""
    if out.endswith(("/", os.sep)) or os.path.isdir(out):
        return os.path.join(out, os.path.basename(input_prefix))
    return out


def _same_file(a, b):
    try:
        return os.path.samefile(a, b)
    except OSError:
        return False


def check_output(prefix, input_files, force):
    """Raises unless writing checkpoint `prefix` is allowed.

    Args:
      prefix: the output prefix.
      input_files: the input checkpoint's files, never to be replaced.
      force: whether an existing output may be replaced.

    Raises:
      CheckpointError: `prefix` is the input checkpoint, by any path.
      OutputExistsError: files of `prefix` exist and not `force`.
    """
    directory, base = os.path.split(os.path.abspath(prefix))
    real_target = os.path.join(os.path.realpath(directory), base)
    same_prefix = any(
        os.path.join(os.path.realpath(os.path.dirname(f)),
                     os.path.basename(f)).startswith(real_target + ".")
        for f in input_files)
    existing = checkpoint_files(prefix)
    if same_prefix or any(_same_file(out, f) for out in existing
                          for f in input_files):
        raise errors.CheckpointError(
            f"output {prefix!r} is the input checkpoint (the same files by "
            "another path); the input is never modified, choose another "
            "output prefix")
    if existing and not force:
        raise errors.OutputExistsError(
            f"output {prefix!r} exists ({', '.join(existing)}); pass "
            "--force / force=True to replace it")


def _save_batch(prefix, tensors):
    """Runs SaveV2 (the op tf.train.Saver uses) in a throwaway graph."""
    names = sorted(tensors)
    with tf.Graph().as_default():
        placeholders = [tf.placeholder(tf.as_dtype(tensors[name].dtype),
                                       shape=tensors[name].shape)
                        for name in names]
        save = tf.raw_ops.SaveV2(prefix=prefix, tensor_names=names,
                                 shape_and_slices=[""] * len(names),
                                 tensors=placeholders)
        with tf.Session(config=tf.ConfigProto(
                device_count={"GPU": 0})) as session:
            session.run(save, feed_dict={
                ph: tensors[name] for ph, name in zip(placeholders, names)})


def _merge(parts, prefix):
    """Merges the part checkpoints into one checkpoint `prefix` (its data
    shards are the parts' data files, renamed)."""
    with tf.Graph().as_default():
        merge = tf.raw_ops.MergeV2Checkpoints(
            checkpoint_prefixes=parts, destination_prefix=prefix,
            delete_old_dirs=False)
        with tf.Session(config=tf.ConfigProto(
                device_count={"GPU": 0})) as session:
            session.run(merge)


def _move(source, target):
    os.replace(source, target)


def _finish_journal(tmp_dir):
    """Completes or rolls back the swap a dead process journaled in
    `tmp_dir`, then removes `tmp_dir`."""
    journal = os.path.join(tmp_dir, _JOURNAL)
    if os.path.exists(journal):
        with open(journal) as f:
            entry = json.load(f)
        target_index = entry["prefix"] + ".index"
        old = os.path.join(tmp_dir, "old")
        if not os.path.exists(target_index) and os.path.isdir(old):
            # Killed before the switch: put the old files back over the new
            # ones (data first, the index last), then drop new extra shards.
            # New files only move in once every old file is out.
            directory = os.path.dirname(entry["prefix"])
            names = sorted(os.listdir(old), key=lambda n: n.endswith(".index"))
            new_moved_in = set(names) == set(entry["old"])
            restored = set()
            for name in names:
                _move(os.path.join(old, name), os.path.join(directory, name))
                restored.add(os.path.join(directory, name))
            if new_moved_in:
                for path in checkpoint_files(entry["prefix"]):
                    if path not in restored:
                        os.remove(path)
    shutil.rmtree(tmp_dir, ignore_errors=True)


def clean_stale(directory):
    """Finishes the swaps of dead writers in `directory` and removes their
    temporary directories (a live writer's are left alone)."""
    try:
        names = os.listdir(directory)
    except FileNotFoundError:
        return
    for name in names:
        if not name.startswith(TEMP_PREFIX):
            continue
        try:
            pid = int(name[len(TEMP_PREFIX):].split("-", 1)[0])
        except ValueError:
            continue
        if not pid_alive(pid):
            _finish_journal(os.path.join(directory, name))


def _swap(prefix, staged, tmp_dir):
    """Replaces checkpoint `prefix` by the staged one (see the module doc)."""
    directory = os.path.dirname(prefix)
    old_files = checkpoint_files(prefix)
    old_files.sort(key=lambda path: not path.endswith(".index"))
    journal = os.path.join(tmp_dir, _JOURNAL)
    with open(journal + ".new", "w") as f:
        json.dump({"prefix": prefix,
                   "old": [os.path.basename(p) for p in old_files]}, f)
    os.replace(journal + ".new", journal)
    old_dir = os.path.join(tmp_dir, "old")
    os.mkdir(old_dir)
    for path in old_files:  # the index first: the old one stops being valid
        _move(path, os.path.join(old_dir, os.path.basename(path)))
    base = os.path.basename(prefix)
    new_files = checkpoint_files(staged)
    new_files.sort(key=lambda path: path.endswith(".index"))
    written = []
    for path in new_files:  # the index last: the switch
        target = os.path.join(
            directory, base + os.path.basename(path)[len("ckpt"):])
        _move(path, target)
        written.append(target)
    return written


def _write_state_file(directory, base, tmp_dir):
    state = os.path.join(directory, "checkpoint")
    if os.path.exists(state):
        return []
    staged = os.path.join(tmp_dir, "checkpoint")
    with open(staged, "w") as f:
        f.write(f'model_checkpoint_path: "{base}"\n'
                f'all_model_checkpoint_paths: "{base}"\n')
    try:
        os.link(staged, state)  # fails if another writer made one meanwhile
    except FileExistsError:
        return []
    return [state]


def write_checkpoint(prefix, batches, force=False, state_file=True,
                     input_files=(), progress=None):
    """Writes checkpoint `prefix` from batches of tensors, crash-safely.

    Args:
      prefix: output checkpoint prefix (literal); its directory is created
        if needed.
      batches: an iterable of dicts ``name -> numpy array``, saved one at a
        time (a single dict is one batch); at least one tensor in all.
      force: replace an existing checkpoint `prefix`.
      state_file: write a ``checkpoint`` state file naming `prefix` when the
        directory has none.
      input_files: files that must never be replaced (checked again just
        before the swap).
      progress: optional callable taking the number of tensors written.

    Returns:
      The list of files written.

    Raises:
      OutputExistsError: `prefix` exists and not `force`.
      CheckpointError: nothing to write, or the directory cannot be
        written (read-only, full disk: the message names it).
    """
    if isinstance(batches, dict):
        batches = [batches]
    prefix = os.path.abspath(prefix)
    directory, base = os.path.split(prefix)
    try:
        os.makedirs(directory, exist_ok=True)
        clean_stale(directory)
        tmp_dir = os.path.join(
            directory, f"{TEMP_PREFIX}{os.getpid()}-{uuid.uuid4().hex}")
        os.mkdir(tmp_dir, 0o700)
    except OSError as error:
        raise errors.CheckpointError(
            f"cannot write {prefix!r}: {_first_line(error)}") from None
    try:
        parts = []
        for batch in batches:
            if batch:
                part = os.path.join(tmp_dir, f"part-{len(parts)}")
                _save_batch(part, batch)
                parts.append(part)
                if progress is not None:
                    progress(len(batch))
            del batch  # not alive while the next batch is computed
        if not parts:
            raise errors.CheckpointError(
                f"nothing to write to {prefix!r}: the result has no "
                "variables")
        staged = os.path.join(tmp_dir, "ckpt")
        _merge(parts, staged)
        check_output(prefix, input_files, force)
        written = _swap(prefix, staged, tmp_dir)
        if state_file:
            written += _write_state_file(directory, base, tmp_dir)
        return written
    except (tf.errors.OpError, OSError) as error:
        reason = _first_line(error)
        if isinstance(error, OSError) and error.errno == errno.ENOSPC:
            reason = "no space left on the device"
        raise errors.CheckpointError(
            f"cannot write {prefix!r}: {reason}; the previous files (if "
            "any) are unchanged") from None
    finally:
        # After the switch this only deletes the old files; before it (an
        # error while swapping) it puts them back.
        _finish_journal(tmp_dir)
