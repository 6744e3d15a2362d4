"""One pass of a base model's frozen lower layers per batch, shared by every fine-tuned task trained on that base.

A task fine-tuned with ``freeze_layers = k`` keeps the base's embeddings and lowest k layers as they were, so on a
batch of texts their output is the same for every such task. A ``SharedBody`` tokenizes a batch once, runs the
embeddings and the lower layers once and keeps the hidden states of that batch; each task then runs only its own
upper layers and head on them. Tasks that froze different numbers of layers share the lowest common part: the body
goes on from the deepest state it already holds for the batch.

The batch is recognised by identity: the pipeline hands every classifier the same list of texts, so the first task
computes the shared layers and the others reuse them; another list (even with equal texts) starts afresh.
Texts are batched as ``models.finetune.predict_proba`` batches them (``length_batches``),
so the shared path computes what the full pass computes, int8 included (the body's Linear layers are quantised
like the task's).
"""

from __future__ import annotations

import hashlib
import json
import threading
import weakref
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from models.embedding import resolve_model
from models.finetune import length_batches, quantize


@dataclass
class _Chunk:
    """One padded batch of texts: their rows in the input, their tokens, and the hidden state after each number of
    layers that a task asked for."""

    rows: list[int]
    tokens: Any
    states: dict[int, Any]


def _digest(module: Any) -> str:
    h = hashlib.sha256()
    for name, tensor in sorted(module.state_dict().items()):
        h.update(name.encode())
        h.update(tensor.detach().cpu().contiguous().numpy().tobytes())
    return h.hexdigest()


def lower_digests(body: Any, layers: int) -> list[str]:
    """Hashes of the weights of ``body``'s embeddings and of each of its lowest ``layers`` encoder layers."""
    return [_digest(m) for m in [body.embeddings, *body.encoder.layer[:layers]]]


def _vocabulary(tokenizer: Any) -> str:
    """What makes a fast tokenizer's tokens (not the truncation and padding that each call sets); "" when slow."""
    backend = getattr(tokenizer, "backend_tokenizer", None)
    if backend is None:
        return ""
    spec = {k: v for k, v in json.loads(backend.to_str()).items() if k not in ("truncation", "padding")}
    return json.dumps([spec, tokenizer.padding_side, tokenizer.truncation_side], sort_keys=True)


class SharedBody:
    """The embeddings and encoder layers of one base model, run once per batch for every task that shares them."""

    def __init__(self, base: str, device: str = "cpu", int8: bool = False, max_length: int = 128,
                 batch_size: int = 64) -> None:
        from transformers import AutoModel, AutoTokenizer
        from transformers.utils import logging as hf_logging

        hf_logging.disable_progress_bar()
        model = AutoModel.from_pretrained(resolve_model(base))
        self.base = base
        self.digests = lower_digests(model, len(model.encoder.layer)) if hasattr(model, "encoder") else []
        self.tokenizer = AutoTokenizer.from_pretrained(resolve_model(base))
        self.device = "cpu" if int8 else device
        self.model = quantize(model) if int8 else model.to(device)
        self.model.eval()
        self.max_length = max_length
        self.batch_size = batch_size
        self._lock = threading.Lock()
        self._texts: Sequence[str] | None = None
        self._snapshot: tuple[str, ...] = ()
        self._chunks: list[_Chunk] = []

    def refusal(self, model: Any, tokenizer: Any, layers: int) -> str:
        """Why ``model`` (fine-tuned from this base with its lowest ``layers`` layers frozen) cannot share this
        body, or "" when it can."""
        from transformers import BertForSequenceClassification

        try:
            import transformers.masking_utils  # noqa: F401
        except ImportError:
            return "sharing needs transformers 5 (transformers.masking_utils)"
        if not isinstance(model, BertForSequenceClassification) or not self.digests:
            return f"a {type(model).__name__} on {type(self.model).__name__}: only BERT encoders share their layers"
        if not 0 < layers <= len(self.digests) - 1:
            return f"freeze_layers={layers}: no frozen layers to share"
        if _vocabulary(tokenizer) != _vocabulary(self.tokenizer) or not _vocabulary(tokenizer):
            return "its tokenizer is not the base's"
        if lower_digests(model.base_model, layers) != self.digests[:layers + 1]:
            return (f"its embeddings and lowest {layers} layers differ from those of {self.base!r} now "
                    "(changed in training, or the base changed since)")
        return ""

    def states(self, texts: Sequence[str], layers: int) -> list[tuple[list[int], Any, Any]]:
        """For each padded batch of ``texts``: its rows, attention mask and the hidden state after ``layers``
        layers, computed once per list of texts."""
        import torch

        with self._lock, torch.inference_mode():
            if texts is not self._texts or tuple(texts) != self._snapshot:
                self._texts, self._snapshot = texts, tuple(texts)
                self._chunks = self._tokenize(texts)
            return [(c.rows, c.tokens["attention_mask"], self._advance(c, layers)) for c in self._chunks]

    def _tokenize(self, texts: Sequence[str]) -> list[_Chunk]:
        chunks = []
        for rows in length_batches(texts, self.batch_size):
            tokens = self.tokenizer([texts[i] for i in rows], truncation=True, max_length=self.max_length,
                                    padding=True, return_tensors="pt").to(self.device)
            chunks.append(_Chunk(rows, tokens, {}))
        return chunks

    def _advance(self, chunk: _Chunk, layers: int) -> Any:
        """The state after ``layers`` layers, from the deepest one below it already computed (or the embeddings);
        only the states tasks asked for are kept."""
        depth = max((d for d in chunk.states if d <= layers), default=0)
        if depth == layers:
            return chunk.states[layers]
        hidden = chunk.states[depth] if depth else self.model.embeddings(
            input_ids=chunk.tokens["input_ids"], token_type_ids=chunk.tokens.get("token_type_ids"))
        mask = _mask(self.model.config, hidden, chunk.tokens["attention_mask"])
        for layer in self.model.encoder.layer[depth:layers]:
            hidden = layer(hidden, mask)
        chunk.states[layers] = hidden
        return hidden

    def probabilities(self, model: Any, layers: int, texts: Sequence[str]) -> np.ndarray:
        """Class probabilities of ``model`` (a ``BertForSequenceClassification`` that ``refusal`` accepted) on
        ``texts``: its layers above ``layers`` and its head, on the shared states."""
        import torch

        out = np.zeros((len(texts), model.config.num_labels), dtype=np.float32)
        body = model.base_model
        with torch.inference_mode():
            for rows, attention, hidden in self.states(texts, layers):
                mask = _mask(model.config, hidden, attention)
                for layer in body.encoder.layer[layers:]:
                    hidden = layer(hidden, mask)
                logits = model.classifier(model.dropout(body.pooler(hidden))).float()
                out[rows] = torch.softmax(logits, dim=-1).cpu().numpy()
        return out


def _mask(config: Any, hidden: Any, attention: Any) -> Any:
    from transformers.masking_utils import create_bidirectional_mask

    return create_bidirectional_mask(config=config, inputs_embeds=hidden, attention_mask=attention)


_bodies: weakref.WeakValueDictionary[tuple[str, str, bool, int, int], SharedBody] = weakref.WeakValueDictionary()
_bodies_lock = threading.Lock()


def shared_body(base: str, device: str, int8: bool, max_length: int, batch_size: int) -> SharedBody:
    """The body of ``base`` that every task served the same way shares (loaded on first use, dropped with the
    last task that holds it)."""
    key = (resolve_model(base), device, int8, max_length, batch_size)
    with _bodies_lock:
        body = _bodies.get(key)
        if body is None:
            body = SharedBody(base, device, int8, max_length, batch_size)
            _bodies[key] = body
        return body
