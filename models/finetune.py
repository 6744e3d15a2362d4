"""Fine-tuning a transformer sequence classifier for one task, on a GPU when there is one, else on the CPU.

``train`` takes labelled examples (each with a weight, so the team's corrections can count more than imported
labels), keeps the epoch that scores best on the validation set (early stopping), and can resume from a checkpoint
written after every epoch. The default trains only the top layers and the head, which is what fits a 2-core CPU.
"""

from __future__ import annotations

import hashlib
import json
import os
import random
import time
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from models.embedding import pick_device, resolve_model
from models.evaluation import check_metric, score


class TrainingError(RuntimeError):
    """Training cannot start or cannot go on; the message says why."""


@dataclass(frozen=True)
class TrainArgs:
    """How to fine-tune: the options people expect from a trainer, with CPU-friendly defaults."""

    base: str = "bundled"
    freeze_layers: int = 4
    epochs: int = 5
    patience: int = 2
    learning_rate: float = 1e-4
    warmup_ratio: float = 0.1
    weight_decay: float = 0.01
    batch_size: int = 16
    grad_accum: int = 1
    max_length: int = 128
    class_weighting: bool = True
    seed: int = 0
    metric: str = "macro_f1"
    max_minutes: float = 0.0


@dataclass(frozen=True)
class Example:
    text: str
    label: str
    weight: float = 1.0


@dataclass(frozen=True)
class Progress:
    """Where training is: reported after every optimiser step and at the end of every epoch."""

    epoch: int
    epochs: int
    step: int
    steps: int
    loss: float
    val_score: float | None = None


@dataclass
class TrainResult:
    model: Any
    tokenizer: Any
    labels: list[str]
    best_epoch: int
    best_score: float
    seconds: float
    device: str
    resumed_from_epoch: int = 0
    history: list[dict[str, float]] = field(default_factory=list)


def fingerprint(labels: Sequence[str], examples: Sequence[Example], args: TrainArgs) -> str:
    """A hash of everything that determines a training run: labels, data (in order), arguments."""
    h = hashlib.sha256(json.dumps([list(labels), asdict(args)]).encode())
    for e in examples:
        h.update(json.dumps([e.text, e.label, e.weight]).encode())
    return h.hexdigest()[:16]


def base_path(base: str) -> str:
    """The folder of the model ``base`` (``bundled``: the packaged all-MiniLM-L6-v2)."""
    path = resolve_model(base)
    if not Path(path).is_dir():
        raise TrainingError(f"base model {base!r}: {path} is not a model folder")
    return path


def base_layers(base: str) -> int:
    """How many transformer layers the model ``base`` has (the most ``freeze_layers`` can freeze)."""
    from transformers import AutoConfig

    try:
        return int(AutoConfig.from_pretrained(base_path(base)).num_hidden_layers)
    except (OSError, ValueError, AttributeError) as exc:
        raise TrainingError(f"base model {base!r}: its number of layers cannot be read: {exc}") from exc


def _load_base(args: TrainArgs, labels: Sequence[str]) -> tuple[Any, Any]:
    from transformers import AutoModelForSequenceClassification, AutoTokenizer
    from transformers.utils import logging as hf_logging

    path = base_path(args.base)
    verbosity = hf_logging.get_verbosity()
    hf_logging.set_verbosity_error()
    hf_logging.disable_progress_bar()
    try:
        model = AutoModelForSequenceClassification.from_pretrained(
            path, num_labels=len(labels), id2label=dict(enumerate(labels)),
            label2id={name: i for i, name in enumerate(labels)})
        tokenizer = AutoTokenizer.from_pretrained(path)
    except (OSError, ValueError) as exc:
        raise TrainingError(f"base model {args.base!r} cannot be loaded: {exc}") from exc
    finally:
        hf_logging.set_verbosity(verbosity)
    return model, tokenizer


def freeze(model: Any, layers: int) -> None:
    """Freeze the embeddings and the lowest ``layers`` transformer layers (0 trains everything)."""
    if layers <= 0:
        return
    body = model.base_model
    encoder_layers = getattr(getattr(body, "encoder", None), "layer", None)
    if encoder_layers is None:
        raise TrainingError(f"freeze_layers={layers}: the base model has no encoder layers to freeze; set 0")
    if layers > len(encoder_layers):
        raise TrainingError(f"freeze_layers={layers}: the base model has only {len(encoder_layers)} layers")
    for module in [body.embeddings, *encoder_layers[:layers]]:
        for p in module.parameters():
            p.requires_grad = False


def _batches(lengths: Sequence[int], batch_size: int, rng: random.Random) -> list[list[int]]:
    """Shuffled batches of indices of similar length (less padding), themselves in random order."""
    order = list(range(len(lengths)))
    rng.shuffle(order)
    chunk = batch_size * 50
    batches = []
    for start in range(0, len(order), chunk):
        part = sorted(order[start:start + chunk], key=lambda i: lengths[i])
        batches += [part[i:i + batch_size] for i in range(0, len(part), batch_size)]
    rng.shuffle(batches)
    return batches


def length_batches(texts: Sequence[str], batch_size: int) -> list[list[int]]:
    """The rows of ``texts`` shortest first, ``batch_size`` at a time (less padding): how texts are batched for a
    fine-tuned model, on the full pass and on a shared body alike."""
    order = sorted(range(len(texts)), key=lambda i: len(texts[i]))
    return [order[start:start + batch_size] for start in range(0, len(order), batch_size)]


def predict_proba(model: Any, tokenizer: Any, texts: Sequence[str], batch_size: int = 64, max_length: int = 128,
                  device: str = "cpu") -> np.ndarray:
    """Class probabilities, ``(len(texts), num_labels)``, batched by length and returned in input order."""
    import torch

    out = np.zeros((len(texts), model.config.num_labels), dtype=np.float32)
    model.eval()
    with torch.inference_mode():
        for idx in length_batches(texts, batch_size):
            enc = tokenizer([texts[i] for i in idx], truncation=True, max_length=max_length, padding=True,
                            return_tensors="pt").to(device)
            logits = model(**enc).logits.float()
            out[idx] = torch.softmax(logits, dim=-1).cpu().numpy()
    return out


def _val_score(model: Any, tokenizer: Any, val: Sequence[Example], labels: Sequence[str], args: TrainArgs,
               device: str) -> float:
    probs = predict_proba(model, tokenizer, [e.text for e in val], args.batch_size * 2, args.max_length, device)
    return score(args.metric, [e.label for e in val], [labels[i] for i in probs.argmax(axis=1)], labels)


def estimate_seconds(labels: Sequence[str], examples: Sequence[Example], n_scored: int, args: TrainArgs,
                     device: str = "auto", probe_steps: int = 3) -> float:
    """How long ``train`` would take at most (every epoch, no early stop), from a few timed training steps on
    ``examples`` and one timed scoring batch; ``n_scored`` texts are scored after each epoch (the validation set)."""
    import torch

    device = pick_device(device)
    model, tokenizer = _load_base(args, labels)
    freeze(model, args.freeze_layers)
    model.to(device)
    params = [p for p in model.parameters() if p.requires_grad]
    optimizer = torch.optim.AdamW(params, lr=args.learning_rate)
    batches = _batches([len(e.text) for e in examples], args.batch_size, random.Random(args.seed))
    model.train()
    timed = []
    for batch in batches[:probe_steps + 1]:
        started = time.monotonic()
        enc = tokenizer([examples[i].text for i in batch], truncation=True, max_length=args.max_length,
                        padding=True, return_tensors="pt").to(device)
        logits = model(**enc).logits.float()
        torch.nn.functional.cross_entropy(logits, torch.zeros(len(batch), dtype=torch.long, device=device)).backward()
        optimizer.step()
        optimizer.zero_grad()
        timed.append((time.monotonic() - started) / len(batch))
    per_example = float(np.median(timed[1:] or timed))
    sample = [e.text for e in examples[: args.batch_size * 2]]
    started = time.monotonic()
    predict_proba(model, tokenizer, sample, args.batch_size * 2, args.max_length, device)
    per_scored = (time.monotonic() - started) / max(len(sample), 1)
    return args.epochs * (len(examples) * per_example + n_scored * per_scored)


def _check_inputs(labels: list[str], examples: Sequence[Example], val: Sequence[Example], args: TrainArgs) -> None:
    check_metric(args.metric, labels)
    unknown = {e.label for e in [*examples, *val]} - set(labels)
    if unknown:
        raise TrainingError(f"examples have labels the task does not: {', '.join(sorted(unknown))}")
    if len({e.label for e in examples}) < 2:
        raise TrainingError("training needs examples of at least two labels")
    if not val:
        raise TrainingError("training needs a validation set to choose the best epoch")


@dataclass
class _Run:
    """Everything one fine-tuning run steps through: the model, its optimiser and schedule, the targets and weights
    as tensors, and the state saved in a checkpoint after every epoch."""

    model: Any
    tokenizer: Any
    params: list[Any]
    optimizer: Any
    scheduler: Any
    y: Any
    weights: Any
    class_w: Any
    steps_per_epoch: int
    total_steps: int
    bf16: bool
    fingerprint: str
    state: dict[str, Any] = field(default_factory=lambda: {"epoch": 0, "best_score": -1.0, "best_epoch": 0,
                                                           "bad_epochs": 0, "history": [], "best_state": None})


def _prepare(labels: list[str], examples: Sequence[Example], args: TrainArgs, device: str) -> _Run:
    """The seeded base model with its lower layers frozen, an AdamW optimiser with linear warm-up and decay, and the
    targets, example weights and class weights on ``device``."""
    import torch
    from transformers import get_linear_schedule_with_warmup

    random.seed(args.seed)
    np.random.seed(args.seed)
    torch.manual_seed(args.seed)
    model, tokenizer = _load_base(args, labels)
    freeze(model, args.freeze_layers)
    model.to(device)
    index = {name: i for i, name in enumerate(labels)}
    y = torch.tensor([index[e.label] for e in examples])
    counts = torch.bincount(y, minlength=len(labels)).float()
    class_w = (len(examples) / (len(labels) * counts.clamp(min=1))) if args.class_weighting else torch.ones(len(labels))
    batches_per_epoch = -(-len(examples) // args.batch_size)  # chunks are whole batches, so only one is partial
    steps_per_epoch = -(-batches_per_epoch // args.grad_accum)
    total_steps = steps_per_epoch * args.epochs
    params = [p for p in model.parameters() if p.requires_grad]
    optimizer = torch.optim.AdamW(params, lr=args.learning_rate, weight_decay=args.weight_decay)
    scheduler = get_linear_schedule_with_warmup(optimizer, int(args.warmup_ratio * total_steps), total_steps)
    return _Run(model, tokenizer, params, optimizer, scheduler, y,
                torch.tensor([e.weight for e in examples], dtype=torch.float32), class_w.to(device), steps_per_epoch,
                total_steps, device.startswith("cuda") and torch.cuda.is_bf16_supported(),
                fingerprint(labels, examples, args))


def _resume(run: _Run, checkpoint: Path | None, device: str) -> int:
    """Load ``checkpoint`` into ``run`` when it was written by a run with the same data and arguments; returns the
    last epoch it holds (0: start afresh)."""
    import torch

    if not checkpoint or not checkpoint.is_file():
        return 0
    saved = torch.load(checkpoint, map_location=device, weights_only=False)
    if saved.get("fingerprint") != run.fingerprint:
        return 0
    run.model.load_state_dict(saved["model"])
    run.optimizer.load_state_dict(saved["optimizer"])
    run.scheduler.load_state_dict(saved["scheduler"])
    run.state = saved["state"]
    return int(run.state["epoch"])


def _save_checkpoint(run: _Run, checkpoint: Path) -> None:
    import torch

    tmp = checkpoint.with_suffix(".tmp")
    torch.save({"fingerprint": run.fingerprint, "model": run.model.state_dict(),
                "optimizer": run.optimizer.state_dict(), "scheduler": run.scheduler.state_dict(),
                "state": run.state}, tmp)
    os.replace(tmp, checkpoint)


def _train_epoch(run: _Run, examples: Sequence[Example], epoch: int, step: int, args: TrainArgs, device: str,
                 deadline: float | None, progress: Callable[[Progress], None] | None) -> tuple[list[float], int, bool]:
    """One epoch of weighted cross-entropy steps; returns the losses, the step reached, and whether ``deadline``
    (a ``time.monotonic`` value) cut it short."""
    import torch

    run.model.train()
    losses: list[float] = []
    batches = _batches([len(e.text) for e in examples], args.batch_size, random.Random(args.seed * 1000 + epoch))
    for n, batch in enumerate(batches):
        if deadline is not None and time.monotonic() > deadline:
            return losses, step, True
        enc = run.tokenizer([examples[i].text for i in batch], truncation=True, max_length=args.max_length,
                            padding=True, return_tensors="pt").to(device)
        with torch.autocast("cuda", dtype=torch.bfloat16, enabled=run.bf16):
            logits = run.model(**enc).logits.float()
        yb, wb = run.y[batch].to(device), run.weights[batch].to(device)
        per = torch.nn.functional.cross_entropy(logits, yb, weight=run.class_w, reduction="none") * wb
        loss = per.sum() / (run.class_w[yb] * wb).sum()
        (loss / args.grad_accum).backward()
        losses.append(loss.item())
        if (n + 1) % args.grad_accum == 0 or n + 1 == len(batches):
            torch.nn.utils.clip_grad_norm_(run.params, 1.0)
            run.optimizer.step()
            run.scheduler.step()
            run.optimizer.zero_grad()
            step += 1
            if progress:
                progress(Progress(epoch, args.epochs, step, run.total_steps, float(np.mean(losses[-20:]))))
    return losses, step, False


def _end_epoch(run: _Run, epoch: int, losses: list[float], val_score: float) -> None:
    """Record the epoch in the history and keep its weights when it is the best so far (else count a bad epoch)."""
    state = run.state
    state["history"].append({"epoch": epoch, "loss": round(float(np.mean(losses)), 4),
                             "val_score": round(val_score, 4)})
    if val_score > state["best_score"]:
        state.update(best_score=val_score, best_epoch=epoch, bad_epochs=0,
                     best_state={k: v.detach().cpu().clone() for k, v in run.model.state_dict().items()})
    else:
        state["bad_epochs"] += 1
    state["epoch"] = epoch


def train(labels: Sequence[str], examples: Sequence[Example], val: Sequence[Example], args: TrainArgs = TrainArgs(),
          device: str = "auto", progress: Callable[[Progress], None] | None = None,
          checkpoint: str | Path | None = None) -> TrainResult:
    """Fine-tune ``args.base`` on ``examples`` and return the epoch that scored best on ``val``.

    ``args.max_minutes`` (0: none) ends training early, after scoring the epoch in progress on ``val``.

    With ``checkpoint``, state is saved there after every epoch and a run with the same data and arguments picks up
    after the last saved epoch.
    """
    labels = list(labels)
    _check_inputs(labels, examples, val, args)
    started = time.monotonic()
    deadline = started + args.max_minutes * 60 if args.max_minutes else None
    device = pick_device(device)
    run = _prepare(labels, examples, args, device)
    ckpt = Path(checkpoint) if checkpoint else None
    resumed = _resume(run, ckpt, device)
    step = resumed * run.steps_per_epoch
    for epoch in range(resumed + 1, args.epochs + 1):
        if run.state["bad_epochs"] >= args.patience:
            break
        losses, step, out_of_time = _train_epoch(run, examples, epoch, step, args, device, deadline, progress)
        val_score = _val_score(run.model, run.tokenizer, val, labels, args, device)
        _end_epoch(run, epoch, losses, val_score)
        if progress:
            progress(Progress(epoch, args.epochs, step, run.total_steps, float(np.mean(losses)), val_score))
        if out_of_time:
            break
        if ckpt:
            _save_checkpoint(run, ckpt)
    if run.state["best_state"] is not None:
        run.model.load_state_dict(run.state["best_state"])
    run.model.eval()
    return TrainResult(run.model, run.tokenizer, labels, run.state["best_epoch"], round(run.state["best_score"], 4),
                       round(time.monotonic() - started, 1), device, resumed, run.state["history"])


def quantize(model: Any) -> Any:
    """A CPU copy of ``model`` with its Linear layers dynamically quantised to int8."""
    import copy
    import warnings

    import torch

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return torch.ao.quantization.quantize_dynamic(copy.deepcopy(model).cpu(), {torch.nn.Linear},
                                                      dtype=torch.qint8)
