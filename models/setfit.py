"""The SetFit-style rung: the sentence encoder tuned contrastively on pairs drawn from the labels, then a logistic
head on the tuned embeddings (Tunstall et al., 2022, "Efficient Few-Shot Learning Without Prompts").

Pairs of texts of the same label are pulled together and pairs of different labels pushed apart
(sentence-transformers' ``CosineSimilarityLoss``), a few hundred to a few thousand pairs in one pass; the head is
``models.anchored.train_anchored`` on the tuned encoder's vectors, anchored at the zero-shot classifier of the tuned
encoder (the label descriptions through it), as the head rung is on the shared one. It serves with its own encoder
pass (the tuned encoder is not the one the pipeline shares), so it costs more than the head rung and less than
fine-tuning.
"""

from __future__ import annotations

import random
import time
from collections import defaultdict
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from models.anchored import train_anchored
from models.classifier import Prediction, TaskSpec, check_batch, predictions
from models.embedding import pick_device, resolve_model
from models.finetune import Example, TrainingError, freeze
from models.head import EmbeddingHead, HeadResult
from models.registry import SETFIT_ENCODER, ModelLoadError


@dataclass(frozen=True)
class SetFitArgs:
    """How to tune the encoder: how many pairs, in batches of what size, at what learning rate."""

    pairs: int = 1000
    freeze_layers: int = 4
    batch_size: int = 16
    learning_rate: float = 2e-5
    warmup_ratio: float = 0.1
    max_length: int = 128
    max_chars: int = 2000
    seed: int = 0


@dataclass
class SetFitResult:
    encoder: Any
    head: HeadResult
    pairs: int
    seconds: float


def make_pairs(examples: Sequence[Example], n: int, seed: int) -> list[tuple[str, str, float]]:
    """``n`` pairs, seeded: half of two texts of one label (target 1.0), half of texts of two labels (0.0), each
    label drawn uniformly so that rare labels count as much as common ones. Labels with a single example give only
    negative pairs."""
    by_label: dict[str, list[str]] = defaultdict(list)
    for e in examples:
        by_label[e.label].append(e.text)
    names = sorted(by_label)
    if len(names) < 2:
        raise TrainingError("contrastive tuning needs examples of at least two labels")
    twins = [name for name in names if len(by_label[name]) > 1]
    rng = random.Random(seed)
    pairs = []
    for i in range(n):
        if i % 2 == 0 and twins:
            a, b = rng.sample(by_label[rng.choice(twins)], 2)
            pairs.append((a, b, 1.0))
        else:
            first, second = rng.sample(names, 2)
            pairs.append((rng.choice(by_label[first]), rng.choice(by_label[second]), 0.0))
    return pairs


def load_encoder(base: str, device: str, max_length: int, freeze_layers: int = 0) -> Any:
    """The sentence-transformers model ``base`` (``bundled``: all-MiniLM-L6-v2), reading at most ``max_length``
    tokens, with its embeddings and lowest ``freeze_layers`` layers frozen (0: all of it trains)."""
    from sentence_transformers import SentenceTransformer

    try:
        model = SentenceTransformer(resolve_model(base), device=device)
    except (OSError, ValueError) as exc:
        raise TrainingError(f"sentence encoder {base!r} cannot be loaded: {exc}") from exc
    model.max_seq_length = min(int(model.max_seq_length or max_length), max_length)
    body = getattr(model[0], "auto_model", None)
    if freeze_layers and body is None:
        raise TrainingError(f"sentence encoder {base!r} has no transformer body whose layers can be frozen")
    if freeze_layers:
        freeze(body, freeze_layers)
    return model


def encode(model: Any, texts: Sequence[str], max_chars: int = 2000, batch_size: int = 64) -> np.ndarray:
    """Unit float32 vectors of ``texts`` (each cut to ``max_chars``) from ``model``."""
    if not texts:
        dimension = getattr(model, "get_embedding_dimension", None) or model.get_sentence_embedding_dimension
        return np.zeros((0, int(dimension())), dtype=np.float32)
    vectors = model.encode([t[:max_chars] for t in texts], batch_size=batch_size, normalize_embeddings=True,
                           convert_to_numpy=True, show_progress_bar=False)
    return np.asarray(vectors, dtype=np.float32)


def _cosine_loss(model: Any) -> Any:
    """sentence-transformers' ``CosineSimilarityLoss`` on ``model`` (it moved in sentence-transformers 6)."""
    try:
        from sentence_transformers.sentence_transformer.losses import CosineSimilarityLoss
    except ImportError:
        from sentence_transformers.losses import CosineSimilarityLoss  # type: ignore[no-redef]
    return CosineSimilarityLoss(model)


def _step(model: Any, loss: Any, pairs: Sequence[tuple[str, str, float]], device: str) -> float:
    """One contrastive step's loss, backpropagated."""
    import torch

    prepare = getattr(model, "preprocess", None) or model.tokenize  # ``tokenize`` before sentence-transformers 6
    features = []
    for side in (0, 1):
        tokens = prepare([p[side] for p in pairs])
        features.append({k: v.to(device) if isinstance(v, torch.Tensor) else v for k, v in tokens.items()})
    value = loss(features, torch.tensor([p[2] for p in pairs], dtype=torch.float32, device=device))
    value.backward()
    return float(value.item())


def tune_encoder(base: str, pairs: Sequence[tuple[str, str, float]], args: SetFitArgs, device: str,
                 progress: Callable[[int, int, float], None] | None = None) -> Any:
    """The encoder ``base`` after one pass over ``pairs`` with ``CosineSimilarityLoss`` (AdamW, linear warm-up and
    decay); ``progress(step, steps, loss)`` follows each step."""
    import torch
    from transformers import get_linear_schedule_with_warmup

    torch.manual_seed(args.seed)
    model = load_encoder(base, device, args.max_length, args.freeze_layers)
    params = [p for p in model.parameters() if p.requires_grad]
    loss = _cosine_loss(model)
    optimizer = torch.optim.AdamW(params, lr=args.learning_rate)
    steps = -(-len(pairs) // args.batch_size)
    scheduler = get_linear_schedule_with_warmup(optimizer, int(args.warmup_ratio * steps), steps)
    model.train()
    for step, start in enumerate(range(0, len(pairs), args.batch_size), 1):
        value = _step(model, loss, pairs[start:start + args.batch_size], device)
        torch.nn.utils.clip_grad_norm_(params, 1.0)
        optimizer.step()
        scheduler.step()
        optimizer.zero_grad()
        if progress:
            progress(step, steps, value)
    model.eval()
    return model


def estimate_seconds(base: str, examples: Sequence[Example], n_encoded: int, args: SetFitArgs,
                     device: str = "auto", probe_steps: int = 3) -> float:
    """How long ``train_setfit`` would take: a few timed contrastive steps on pairs of ``examples`` and one timed
    encoding batch; ``n_encoded`` texts are encoded by the tuned encoder (training, validation, held-out)."""
    import torch

    device = pick_device(device)
    model = load_encoder(base, device, args.max_length, args.freeze_layers)
    loss = _cosine_loss(model)
    optimizer = torch.optim.AdamW([p for p in model.parameters() if p.requires_grad], lr=args.learning_rate)
    pairs = make_pairs(examples, args.batch_size * (probe_steps + 1), args.seed)
    model.train()
    timed = []
    for start in range(0, len(pairs), args.batch_size):
        started = time.monotonic()
        _step(model, loss, pairs[start:start + args.batch_size], device)
        optimizer.step()
        optimizer.zero_grad()
        timed.append(time.monotonic() - started)
    per_step = float(np.median(timed[1:] or timed))
    model.eval()
    sample = [e.text for e in examples[: args.batch_size * 2]]
    started = time.monotonic()
    encode(model, sample, args.max_chars)
    per_text = (time.monotonic() - started) / max(len(sample), 1)
    return -(-args.pairs // args.batch_size) * per_step + n_encoded * per_text


def train_setfit(task: TaskSpec, examples: Sequence[Example], val: Sequence[Example], base: str,
                 args: SetFitArgs, metric: str = "macro_f1", balanced: bool = True, device: str = "auto",
                 progress: Callable[[int, int, float], None] | None = None) -> SetFitResult:
    """Tune ``base`` on ``args.pairs`` pairs of ``examples``, then fit a head on its vectors, anchored at the
    zero-shot classifier of the tuned encoder (the task's label descriptions through it), its strength chosen on
    ``val``."""
    started = time.monotonic()
    device = pick_device(device)
    pairs = make_pairs(examples, args.pairs, args.seed)
    model = tune_encoder(base, pairs, args, device, progress)
    x = encode(model, [e.text for e in examples], args.max_chars)
    x_val = encode(model, [e.text for e in val], args.max_chars)
    prompts = encode(model, [label.prompt for label in task.labels], args.max_chars)
    head = train_anchored(task.label_names, prompts, task.temperature, x, [e.label for e in examples],
                          [e.weight for e in examples], x_val, [e.label for e in val], metric, balanced)
    return SetFitResult(model, head, len(pairs), round(time.monotonic() - started, 2))


class SetFitClassifier:
    """Serves a task with a tuned encoder and its head: reads the item texts (its own encoder pass)."""

    def __init__(self, task: TaskSpec, folder: str | Path, head: EmbeddingHead, version: str,
                 device: str = "auto", max_chars: int = 2000, max_length: int = 128) -> None:
        self.task = task
        self.version = version
        self.head = head
        self.labels = list(head.labels)
        self.max_chars = max_chars
        try:
            self.encoder = load_encoder(str(Path(folder) / SETFIT_ENCODER), pick_device(device), max_length)
        except TrainingError as exc:
            raise ModelLoadError(f"{folder}: its tuned encoder cannot be loaded ({exc})") from exc

    def probabilities(self, texts: Sequence[str]) -> np.ndarray:
        return self.head.probabilities(encode(self.encoder, list(texts), self.max_chars))

    def predict(self, texts: Sequence[str], embeddings: np.ndarray | None) -> list[Prediction]:
        check_batch(texts, embeddings)
        if not texts:
            return []
        return predictions(self.task, self.labels, self.probabilities(texts), self.version)
