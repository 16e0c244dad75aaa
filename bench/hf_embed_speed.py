"""Transformer embedding speed on the CPU: seqray's HFEmbedder vs a plain transformers loop.

Model: a randomly initialised BERT (hidden 256, 4 layers, 4 heads, position table 1024)
with DNABERT's 6-mer vocabulary and tokenizer (space-separated k-mers), built in a temp
directory: nothing is downloaded, and speed does not depend on the weights' values.

Reads: a FASTQ simulated with the seed (random genome, both strands), lengths a mixture
of short and long reads (by default 50 % 50–150 bp, 30 % 150–400 bp, 20 % 400–1000 bp),
all within the model's limit, so neither tool cuts windows and the vectors must agree.

Tools, both mean-pooled over each read's own tokens ([CLS]/[SEP] and padding excluded),
float32, the same torch threads (`torch.set_num_threads`), timed from sequences to
vectors (tokenizing included, loading excluded):
- seqray: `HFEmbedder.embed` on all reads at once: windows sorted by length, packed into
  batches of at most --batch-tokens padded tokens, order restored;
- plain: the usual loop: batches of 32 reads in input order, the model's tokenizer
  padding each batch to its longest read, masked mean.

Protocol (docs/benchmarks.md): an untimed check round compares the vectors (relative
error per vector ≤ 1e-4, else exit 3 before any time is printed), then --runs rounds with
the tools alternating; the table gives the min–max over rounds of reads/s and of the
ratio (plain's wall / seqray's, same round). On a shared machine absolute times are
noisy; the ratio is what counts.

    python bench/hf_embed_speed.py --reads 400 --threads 2 --runs 3
"""

from __future__ import annotations

import argparse
import itertools
import tempfile
import time
from pathlib import Path

import _harness as H
import numpy as np

DNABERT_SPECIALS = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"]
MIXTURE = ((0.5, 50, 150), (0.3, 150, 400), (0.2, 400, 1000))  # share, shortest, longest


def build_model(path: Path, args: argparse.Namespace) -> Path:
    import torch
    from transformers import BertConfig, BertModel, BertTokenizer

    path.mkdir(parents=True)
    kmers = ["".join(p) for p in itertools.product("ATCG", repeat=args.k)]
    (path / "vocab.txt").write_text("\n".join(DNABERT_SPECIALS + kmers) + "\n")
    tok = BertTokenizer(str(path / "vocab.txt"), do_lower_case=False)
    tok.model_max_length = 1024
    torch.manual_seed(args.seed)
    config = BertConfig(
        vocab_size=len(DNABERT_SPECIALS) + len(kmers),
        hidden_size=args.hidden,
        num_hidden_layers=args.layers,
        num_attention_heads=args.heads,
        intermediate_size=4 * args.hidden,
        max_position_embeddings=1024,
    )
    BertModel(config).save_pretrained(path)
    tok.save_pretrained(path)
    return path


def simulate_fastq(path: Path, n: int, seed: int) -> None:
    rng = np.random.default_rng(seed)
    genome = rng.choice(np.frombuffer(b"ACGT", np.uint8), 200_000)
    shares = np.array([m[0] for m in MIXTURE])
    kind = rng.choice(len(MIXTURE), n, p=shares / shares.sum())
    lo = np.array([m[1] for m in MIXTURE])[kind]
    hi = np.array([m[2] for m in MIXTURE])[kind]
    lengths = rng.integers(lo, hi + 1)
    comp = bytes.maketrans(b"ACGT", b"TGCA")
    with open(path, "w") as f:
        for i, length in enumerate(lengths):
            start = int(rng.integers(0, len(genome) - length))
            seq = genome[start : start + length].tobytes()
            if rng.random() < 0.5:
                seq = seq.translate(comp)[::-1]
            f.write(f"@r{i}\n{seq.decode()}\n+\n{'I' * length}\n")


def read_fastq(path: Path) -> list[bytes]:
    return [line.encode() for line in path.read_text().splitlines()[1::4]]


class Plain:
    """The plain loop: batches of 32 in input order, padded to the batch's longest."""

    def __init__(self, model_dir: Path, k: int, batch: int = 32):
        import torch
        from transformers import AutoModel, AutoTokenizer

        self.torch, self.k, self.batch = torch, k, batch
        self.tok = AutoTokenizer.from_pretrained(str(model_dir), local_files_only=True)
        self.model = AutoModel.from_pretrained(str(model_dir), local_files_only=True).eval()

    def text(self, seq: bytes) -> str:
        s, k = seq.decode(), self.k
        return " ".join(s[i : i + k] for i in range(len(s) - k + 1))

    def embed(self, seqs: list[bytes]) -> np.ndarray:
        torch = self.torch
        out = []
        for i in range(0, len(seqs), self.batch):
            texts = [self.text(s) for s in seqs[i : i + self.batch]]
            enc = self.tok(
                texts, padding=True, return_tensors="pt", return_special_tokens_mask=True
            )
            special = enc.pop("special_tokens_mask").bool()
            with torch.inference_mode():
                h = self.model(**enc).last_hidden_state
            keep = (enc["attention_mask"].bool() & ~special).unsqueeze(-1)
            summed = (h * keep).sum(dim=1)
            out.append((summed / keep.sum(dim=1).clamp(min=1)).numpy())
        return np.concatenate(out)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--reads", type=int, default=400)
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--batch-tokens", type=int, default=16384)
    ap.add_argument("--hidden", type=int, default=256)
    ap.add_argument("--layers", type=int, default=4)
    ap.add_argument("--heads", type=int, default=4)
    ap.add_argument("--k", type=int, default=6)
    ap.add_argument("--seed", type=int, default=14)
    args = ap.parse_args(argv)

    import torch

    from seqray.embed.hf.embedder import HFEmbedder

    torch.set_num_threads(args.threads)
    with tempfile.TemporaryDirectory() as tmp:
        model_dir = build_model(Path(tmp) / "model", args)
        fq = Path(tmp) / "reads.fq"
        simulate_fastq(fq, args.reads, args.seed)
        seqs = read_fastq(fq)
        tools = {
            "seqray": HFEmbedder(
                str(model_dir), pooling="mean", batch_tokens=args.batch_tokens,
                threads=args.threads, precision="float32", device="cpu",
            ).embed,
            "plain": Plain(model_dir, args.k).embed,
        }  # fmt: skip

        # check round (untimed; warms both)
        got = {name: fn(seqs) for name, fn in tools.items()}
        err = np.linalg.norm(got["seqray"] - got["plain"], axis=1)
        rel = err / np.maximum(np.linalg.norm(got["plain"], axis=1), 1e-12)
        if rel.max() > 1e-4:
            raise H.Disagreement(f"vectors differ: relative error up to {rel.max():.2e}")

        walls: dict[str, list[float]] = {name: [] for name in tools}
        for _ in range(args.runs):
            for name, fn in tools.items():  # alternating within each round
                t0 = time.perf_counter()
                fn(seqs)
                walls[name].append(time.perf_counter() - t0)

    lengths = np.array([len(s) for s in seqs])
    tokens = int(np.maximum(lengths - args.k + 1, 0).sum())
    ratio = [p / s for p, s in zip(walls["plain"], walls["seqray"])]
    print(
        f"{args.reads} reads ({lengths.min()}–{lengths.max()} bp, mean {lengths.mean():.0f}; "
        f"{tokens:,} {args.k}-mer tokens), BERT hidden {args.hidden} × {args.layers} layers, "
        f"float32, {args.threads} torch threads, {args.runs} runs; vectors agree to "
        f"{rel.max():.1e} (relative)\n"
    )
    print("| tool | wall s | reads/s | plain / seqray |")
    print("|---|---|---|---|")
    for name in tools:
        w = walls[name]
        rate = [args.reads / x for x in w]
        r = f"{min(ratio):.2f}–{max(ratio):.2f}×" if name == "seqray" else ""
        print(f"| {name} | {min(w):.2f}–{max(w):.2f} | {min(rate):.1f}–{max(rate):.1f} | {r} |")
    return 0


if __name__ == "__main__":
    H.refuse_on_disagreement(main)
