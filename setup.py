"""Packaging for tf1-wn.

TensorFlow is deliberately not in ``install_requires``: users already have
``tensorflow``, ``tensorflow-cpu`` or a vendor GPU build, and pip would
otherwise pull a second, conflicting copy.  Pick one with the ``cpu`` or
``gpu`` extra, or install TensorFlow yourself.
"""
import os
import re

from setuptools import setup

HERE = os.path.dirname(os.path.abspath(__file__))


def read_version():
    with open(os.path.join(HERE, "tf1_wn", "version.py")) as f:
        return re.search(r'__version__ = "([^"]+)"', f.read()).group(1)


def read_readme():
    with open(os.path.join(HERE, "README.md"), encoding="utf-8") as f:
        return f.read()


setup(
    name="tf1-wn",
    version=read_version(),
    description=("Weight normalization and weight standardization for "
                 "TensorFlow-1-style graph code, with a Lasagne-compatible "
                 "port layer."),
    long_description=read_readme(),
    long_description_content_type="text/markdown",
    license="Apache-2.0",
    python_requires=">=3.9",
    # The Lasagne mirror lives in the top-level compat/ folder and is
    # installed as the subpackage tf1_wn.compat.
    packages=["tf1_wn", "tf1_wn.layers", "tf1_wn.rnn", "tf1_wn.checkpoint",
              "tf1_wn.data_init", "tf1_wn.compat", "tf1_wn.compat.lasagne"],
    package_dir={
        "tf1_wn": "tf1_wn",
        "tf1_wn.compat": "compat",
        "tf1_wn.compat.lasagne": "compat/lasagne",
    },
    # The C++ source of the fused kernels, compiled on first use.
    package_data={"tf1_wn": ["native/*.cc", "native/*.h"]},
    install_requires=[
        "numpy>=1.23",
        "tf-slim>=1.1",
        # The progress bar of long checkpoint conversions.
        "tqdm>=4",
    ],
    extras_require={
        "cpu": ["tensorflow-cpu>=2.13"],
        "gpu": ["tensorflow>=2.13"],
        "test": ["pytest>=7", "scikit-learn>=1.2", "matplotlib>=3.6"],
        "demo": ["scikit-learn>=1.2", "matplotlib>=3.6"],
        "legacy-keras": ["tf-keras"],
        "lint": ["flake8>=7", "Flake8-pyproject>=1.2"],
    },
    entry_points={"console_scripts": ["tf1-wn = tf1_wn.cli:main"]},
    classifiers=[
        "Programming Language :: Python :: 3",
        "Topic :: Scientific/Engineering :: Artificial Intelligence",
        "License :: OSI Approved :: Apache Software License",
    ],
)
