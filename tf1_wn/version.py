"""Version of the tf1-wn distribution."""
__version__ = "0.1.0"
