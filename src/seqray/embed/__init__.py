"""LSHvec-style k-mer embeddings: hashing, vocabulary, skip-gram training, tables."""
