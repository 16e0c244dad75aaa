"""MPI numeric kernels that read a run's embeddings through its manifest: distributed PCA
(`pca`) and the exact k-nearest-neighbour graph (`knn`). Each runs as
`python -m seqray.solvers.<name> EMBEDDINGS -o OUT` under `mpirun`/`srun` (mpi4py), or
alone as one rank without MPI; `seqray solve` launches them. See docs/solvers.md."""

from .partition import Partition, partition_rows

__all__ = ["Partition", "partition_rows"]
