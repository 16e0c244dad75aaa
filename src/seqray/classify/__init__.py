"""Supervised k-mer classification (fastDNA style): reads of origin from labelled k-mer tokens."""
