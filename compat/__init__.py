"""Ports of Theano-era libraries onto TF1 graphs."""
