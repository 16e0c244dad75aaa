"""The `hf` embedding backend: a local Hugging Face model directory run with torch.

One job a module: `files` checks a model directory without importing torch (the driver
does it before a run starts), `loading` imports torch/transformers and loads the model and
its tokenizer offline, `tokens` turns sequences into the model's token ids (DNABERT's
k-mer and ProtBERT's spaced-residue conventions included), `windows` cuts long sequences
into overlapping windows and packs windows into token-budgeted batches, `pooling` puts
window outputs back together per sequence, and `embedder.HFEmbedder` glues them.
"""
