"""Fixtures of the Lasagne mirror's tests."""
import numpy as np
import pytest

from tf1_wn.compat import lasagne


@pytest.fixture
def seeded():
    """``seeded(seed)`` sets Lasagne's rng; the old one comes back after."""
    old = lasagne.random.get_rng()
    yield lambda seed: lasagne.random.set_rng(np.random.RandomState(seed))
    lasagne.random.set_rng(old)
