"""Lasagne mirror."""
