"""The NumPy random generator the initializers draw from (Lasagne's
``lasagne.random``).

Initial values are sampled with NumPy, not with TF ops, so seeding this
generator the way a Lasagne script seeded ``lasagne.random`` reproduces the
script's initial parameter values (same shapes, same creation order)."""
import numpy as np

_state = {"rng": np.random}


def get_rng():
    """Returns the generator `lasagne.init` draws from (default:
    ``np.random``)."""
    return _state["rng"]


def set_rng(new_rng):
    """Sets the generator used by `lasagne.init`.

    Args:
      new_rng: a ``np.random.RandomState`` (or the ``np.random`` module), as
        Lasagne expects; anything with ``normal``, ``uniform`` and
        ``randint`` methods works.

    Raises:
      TypeError: if `new_rng` lacks one of them.
    """
    if not all(hasattr(new_rng, m) for m in ("normal", "uniform",
                                             "randint")):
        raise TypeError("new_rng must be a np.random.RandomState-like object "
                        "(normal, uniform, randint); got %r" % (new_rng,))
    _state["rng"] = new_rng
