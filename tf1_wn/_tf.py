"""The one place tf1-wn imports TensorFlow.

Every module does ``from tf1_wn._tf import tf`` and gets the
``tensorflow.compat.v1`` API, so a missing TensorFlow fails once, here, with
an error that says what to install.
"""
try:
    import tensorflow as _tensorflow
except ImportError as error:  # pragma: no cover - exercised without TF only
    raise ImportError(
        "tf1-wn needs TensorFlow 2.x, which is not installed in this Python "
        "environment. Install one build, for example "
        "`pip install 'tf1-wn[cpu]'` (tensorflow-cpu), "
        "`pip install 'tf1-wn[gpu]'` (tensorflow), or your platform's own "
        "TensorFlow wheel.") from error

tf = _tensorflow.compat.v1
TF_VERSION = _tensorflow.__version__

__all__ = ["tf", "TF_VERSION"]
