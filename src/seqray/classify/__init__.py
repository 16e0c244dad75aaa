"""Supervised k-mer classification: which reference (label) did a read come from."""
