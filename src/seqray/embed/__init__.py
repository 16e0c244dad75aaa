"""k-mer embeddings (LSHvec-style): hashing k-mers to buckets, skip-gram training, read vectors."""
