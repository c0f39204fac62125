"""Importing TensorFlow without its C++ start-up lines.

TensorFlow 2.16+ writes its first lines (``All log messages before
absl::InitializeLog() is called are written to STDERR``, the oneDNN notice,
the CPU-feature notice) from C++ before any log level is read, so
``TF_CPP_MIN_LOG_LEVEL`` cannot hide them.  `import_tensorflow` points file
descriptor 2 at a temporary file while TensorFlow loads; what was written
there is dropped, unless the import fails, in which case it is replayed on
stderr next to the error.
"""
import contextlib
import os
import sys
import tempfile


@contextlib.contextmanager
def _stderr_captured():
    """Redirects file descriptor 2 to a temporary file; yields that file."""
    sys.stderr.flush()
    saved = os.dup(2)
    with tempfile.TemporaryFile(mode="w+b") as capture:
        os.dup2(capture.fileno(), 2)
        try:
            yield capture
        finally:
            sys.stderr.flush()
            os.dup2(saved, 2)
            os.close(saved)


def import_tensorflow():
    """Imports TensorFlow (if not yet imported) with its start-up lines
    silenced, and sets ``TF_CPP_MIN_LOG_LEVEL=2`` (unless set) for the
    warnings it would log later.

    Returns:
      The ``tensorflow`` module.

    Raises:
      ImportError: as ``import tensorflow`` does; the captured output is
        written to stderr first.
    """
    if "tensorflow" in sys.modules:
        return sys.modules["tensorflow"]
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    captured = []
    try:
        with _stderr_captured() as capture:
            try:
                import tensorflow
            except BaseException:
                captured.append(_read(capture))
                raise
    except BaseException:
        sys.stderr.write("".join(captured))
        raise
    return tensorflow


def _read(capture):
    try:
        capture.seek(0)
        return capture.read().decode("utf-8", "replace")
    except (OSError, ValueError):
        return ""
