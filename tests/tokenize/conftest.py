from __future__ import annotations

from hypothesis import strategies as st

dna = st.text(alphabet="ACGTN", max_size=200)
dna_mostly = st.text(alphabet=st.sampled_from("ACGT" * 8 + "N"), max_size=200)
protein = st.text(alphabet="LAGVESIKRDTPNQFYMHCWXUBZOJ*", max_size=120)
