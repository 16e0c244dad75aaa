"""Reading and writing reads: formats, compression, filesystems, chunking."""
