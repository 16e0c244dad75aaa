"""k-mers: 2-bit encoding, distributed exact counting, spectrum analysis, queries."""
