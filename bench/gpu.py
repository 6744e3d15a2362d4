"""GPU benchmark: encode, classify and fine-tune throughput on a CUDA GPU (fp32 and bf16, several batch sizes)
against the CPU figures of the same run, and whether the GPU's embeddings and labels agree with the CPU's.

    .venv/bin/python bench/gpu.py

It needs a CUDA GPU and says so, exiting with status 2, where there is none. With the bundled model (MiniLM-L6)
and the bundled SpamAssassin sample it measures

- encode: ``SentenceTransformer.encode`` of the texts at batch 32, 128 and 512 (fp32, bf16), the CPU at 32;
- fine-tune: AdamW steps of ``AutoModelForSequenceClassification`` on the sample's spam/ham labels at batch 16
  and 64 (fp32, bf16 autocast), the CPU at 16; the fp32 batch-16 model is kept for the next stage;
- classify: that model's inference at batch 64 and 256 (fp32, bf16), the CPU at 64;

and prints one table: items/s, the speed-up over the CPU, and agreement with the CPU (embeddings: the lowest
cosine similarity; labels: the share of equal zero-shot or fine-tuned labels). It exits 1 when an agreement is
below its floor (embeddings 0.999 fp32 / 0.99 bf16; labels 0.99 fp32 / 0.95 bf16). About a minute or two on a
recent GPU; the CPU parts use ``--cpu-items`` texts.
"""

from __future__ import annotations

import argparse
import copy
import json
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

FLOORS = {("embedding", "fp32"): 0.999, ("embedding", "bf16"): 0.99, ("label", "fp32"): 0.99,
          ("label", "bf16"): 0.95}
PROMPTS = ["a discussion on a mailing list", "unsolicited advertising"]


def sample(n: int) -> tuple[list[str], list[int]]:
    rows = [json.loads(line) for line in (ROOT / "monitor" / "demo" / "spamassassin_sample.jsonl").open()]
    rows = [rows[i % len(rows)] for i in range(n)]
    return [f"{r['title']}\n{r['text']}"[:2000] for r in rows], [int(r["label"] == "spam") for r in rows]


def timed(fn: Any, *args: Any) -> tuple[Any, float]:
    import torch

    fn(*args)  # warm-up (kernels, allocator)
    if torch.cuda.is_available():
        torch.cuda.synchronize()
    started = time.perf_counter()
    out = fn(*args)
    if torch.cuda.is_available():
        torch.cuda.synchronize()
    return out, time.perf_counter() - started


def encoder(device: str, dtype: Any) -> Any:
    from sentence_transformers import SentenceTransformer

    from models.embedding import resolve_model

    return SentenceTransformer(resolve_model("bundled"), device=device).to(dtype)


def encode(model: Any, texts: list[str], batch: int) -> np.ndarray:
    out = model.encode(texts, batch_size=batch, normalize_embeddings=True, convert_to_tensor=True,
                       show_progress_bar=False)
    return out.float().cpu().numpy()


def zero_shot(model: Any, embeddings: np.ndarray) -> np.ndarray:
    return (embeddings @ encode(model, PROMPTS, 32).T).argmax(axis=1)


def train_steps(model: Any, tokenizer: Any, texts: list[str], labels: list[int], batch: int, steps: int,
                device: str, bf16: bool) -> None:
    import torch

    optimiser = torch.optim.AdamW(model.parameters(), lr=5e-5)
    model.train()
    for step in range(steps):
        start = (step * batch) % max(1, len(texts) - batch)
        enc = tokenizer(texts[start:start + batch], truncation=True, max_length=128, padding=True,
                        return_tensors="pt").to(device)
        target = torch.tensor(labels[start:start + batch], device=device)
        with torch.autocast(device_type=device.split(":")[0], dtype=torch.bfloat16, enabled=bf16):
            loss = torch.nn.functional.cross_entropy(model(**enc).logits.float(), target)
        loss.backward()
        optimiser.step()
        optimiser.zero_grad()
    model.eval()


def bench_encode(args: argparse.Namespace, texts: list[str], rows: list[list[Any]]) -> None:
    import torch

    cpu_texts = texts[: args.cpu_items]
    cpu = encoder("cpu", torch.float32)
    cpu_emb, seconds = timed(encode, cpu, cpu_texts, 32)
    cpu_rate = len(cpu_texts) / seconds
    cpu_labels = zero_shot(cpu, cpu_emb)
    rows.append(["encode", "cpu", "fp32", 32, cpu_rate, 1.0, "", ""])
    for name, dtype in (("fp32", torch.float32), ("bf16", torch.bfloat16)):
        gpu = encoder("cuda", dtype)
        for batch in (32, 128, 512):
            _, seconds = timed(encode, gpu, texts, batch)
            rows.append(["encode", "cuda", name, batch, len(texts) / seconds, len(texts) / seconds / cpu_rate, "", ""])
        emb = encode(gpu, cpu_texts, 32)
        cosine = float((emb * cpu_emb).sum(axis=1).min())
        agree = float((zero_shot(gpu, emb) == cpu_labels).mean())
        rows[-1][6:] = [f"emb {cosine:.5f}", f"labels {agree:.3f}"]
        check(("embedding", name), cosine)
        check(("label", name), agree)
        del gpu
        torch.cuda.empty_cache()


def bench_train(args: argparse.Namespace, texts: list[str], labels: list[int], rows: list[list[Any]]) -> Any:
    import torch
    from transformers import AutoModelForSequenceClassification, AutoTokenizer

    from models.embedding import resolve_model

    path = resolve_model("bundled")
    tokenizer = AutoTokenizer.from_pretrained(path)
    torch.manual_seed(0)
    base = AutoModelForSequenceClassification.from_pretrained(path, num_labels=2)
    cpu = copy.deepcopy(base)
    _, seconds = timed(train_steps, cpu, tokenizer, texts, labels, 16, args.cpu_steps, "cpu", False)
    cpu_rate = 16 * args.cpu_steps / seconds
    rows.append(["fine-tune", "cpu", "fp32", 16, cpu_rate, 1.0, "", ""])
    kept = None
    for name in ("fp32", "bf16"):
        for batch in (16, 64):
            model = copy.deepcopy(base).to("cuda")
            _, seconds = timed(train_steps, model, tokenizer, texts, labels, batch, args.steps, "cuda", name == "bf16")
            rate = batch * args.steps / seconds
            rows.append(["fine-tune", "cuda", name, batch, rate, rate / cpu_rate, "", ""])
            if (name, batch) == ("fp32", 16):
                kept = model
    return kept, tokenizer


def bench_classify(args: argparse.Namespace, model: Any, tokenizer: Any, texts: list[str],
                   rows: list[list[Any]]) -> None:
    import torch

    from models.finetune import predict_proba

    cpu_texts = texts[: args.cpu_items]
    cpu = copy.deepcopy(model).to("cpu")
    probs, seconds = timed(predict_proba, cpu, tokenizer, cpu_texts, 64, 128, "cpu")
    cpu_rate = len(cpu_texts) / seconds
    cpu_labels = probs.argmax(axis=1)
    rows.append(["classify", "cpu", "fp32", 64, cpu_rate, 1.0, "", ""])
    for name, dtype in (("fp32", torch.float32), ("bf16", torch.bfloat16)):
        gpu = copy.deepcopy(model).to("cuda", dtype)
        for batch in (64, 256):
            _, seconds = timed(predict_proba, gpu, tokenizer, texts, batch, 128, "cuda")
            rows.append(["classify", "cuda", name, batch, len(texts) / seconds, len(texts) / seconds / cpu_rate,
                         "", ""])
        agree = float((predict_proba(gpu, tokenizer, cpu_texts, 64, 128, "cuda").argmax(axis=1) == cpu_labels).mean())
        rows[-1][7] = f"labels {agree:.3f}"
        check(("label", name), agree)


FAILED: list[str] = []


def check(what: tuple[str, str], value: float) -> None:
    if value < FLOORS[what]:
        FAILED.append(f"{what[0]} agreement {value:.4f} ({what[1]}) is below {FLOORS[what]}")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--items", type=int, default=2048, help="texts encoded and classified on the GPU")
    parser.add_argument("--cpu-items", type=int, default=256, help="texts for the CPU baselines and agreement")
    parser.add_argument("--steps", type=int, default=30, help="timed fine-tuning steps per GPU setting")
    parser.add_argument("--cpu-steps", type=int, default=4, help="timed fine-tuning steps on the CPU")
    args = parser.parse_args()
    import torch

    if not torch.cuda.is_available():
        print(f"bench/gpu.py needs a CUDA GPU, and torch {torch.__version__} sees none "
              f"(built with CUDA {torch.version.cuda or 'none'}); run it on a GPU host", file=sys.stderr)
        return 2
    from tabulate import tabulate

    texts, labels = sample(args.items)
    rows: list[list[Any]] = []
    bench_encode(args, texts, rows)
    model, tokenizer = bench_train(args, texts, labels, rows)
    bench_classify(args, model, tokenizer, texts, rows)
    print(f"{torch.cuda.get_device_name(0)}, torch {torch.__version__}, CUDA {torch.version.cuda}; "
          f"{args.items} texts on the GPU, {args.cpu_items} on the CPU")
    print(tabulate([[*r[:4], f"{r[4]:.1f}", f"{r[5]:.1f}x", *r[6:]] for r in rows],
                   headers=["stage", "device", "dtype", "batch", "items/s", "vs cpu", "agreement", ""]))
    for line in FAILED:
        print(f"FAIL: {line}", file=sys.stderr)
    return 1 if FAILED else 0


if __name__ == "__main__":
    sys.exit(main())
