"""Read statistics and (in later stages) filtering, trimming and duplicate removal."""
