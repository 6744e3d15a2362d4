"""Text augmentation for labels with few examples: variants of a text made by random deletion, random swap, and
replacing words by their nearest neighbours in the model's own input token embeddings (EDA-style, Wei & Zou 2019,
with the model's vocabulary standing in for WordNet).

Only whole-word vocabulary entries take part in replacement: alphabetic entries, neither special tokens nor word
pieces (`##ing` in WordPiece; for tokenizers that mark the start of a word, `Ġ`/`▁`, only the marked entries).
Everything is seeded, so the same examples give the same variants.
"""

from __future__ import annotations

import random
import re
from collections import Counter
from collections.abc import Sequence
from typing import Any

import numpy as np

from models.finetune import Example, TrainingError, base_path

WORD_START = ("Ġ", "▁")
WORD = re.compile(r"^(\W*)([^\W\d_]+)(\W*)$")  # a word, with any punctuation stuck to it


class Augmenter:
    """Makes variants of texts; ``rate`` is the share of a text's words one operation changes (at least one)."""

    def __init__(self, tokenizer: Any, embeddings: np.ndarray, seed: int = 0, rate: float = 0.1,
                 neighbours: int = 5) -> None:
        vocab: dict[str, int] = tokenizer.get_vocab()
        specials = set(tokenizer.all_special_tokens)
        marked = any(token.startswith(WORD_START) for token in vocab)
        words: dict[str, int] = {}
        for token, index in vocab.items():
            if token in specials or index >= len(embeddings):
                continue
            word = token[1:] if marked and token.startswith(WORD_START) else "" if marked else token
            if len(word) > 1 and word.isalpha():
                words.setdefault(word, index)
        self.words = list(words)
        self._index = {word: i for i, word in enumerate(self.words)}
        vectors = embeddings[list(words.values())].astype(np.float32)
        self._vectors = vectors / np.maximum(np.linalg.norm(vectors, axis=1, keepdims=True), 1e-12)
        self._near: dict[str, list[str]] = {}
        self.seed, self.rate, self.k = seed, rate, neighbours

    @classmethod
    def load(cls, base: str, seed: int = 0) -> Augmenter:
        """An augmenter over the input token embeddings and tokenizer of the model ``base`` (or `bundled`)."""
        from transformers import AutoModel, AutoTokenizer
        from transformers.utils import logging as hf_logging

        path = base_path(base)
        verbosity = hf_logging.get_verbosity()
        hf_logging.set_verbosity_error()
        hf_logging.disable_progress_bar()
        try:
            model = AutoModel.from_pretrained(path)
            tokenizer = AutoTokenizer.from_pretrained(path)
        except (OSError, ValueError) as exc:
            raise TrainingError(f"base model {base!r} cannot be loaded: {exc}") from exc
        finally:
            hf_logging.set_verbosity(verbosity)
        return cls(tokenizer, model.get_input_embeddings().weight.detach().float().numpy(), seed)

    def neighbours(self, word: str) -> list[str]:
        """The ``k`` whole words nearest to ``word`` by cosine similarity of their input embeddings ([] when
        ``word`` is not a whole word of the vocabulary)."""
        key = word if word in self._index else word.lower()
        if key not in self._near:
            i = self._index.get(key)
            if i is None:
                self._near[key] = []
            else:
                sims = self._vectors @ self._vectors[i]
                top = np.argpartition(-sims, min(self.k + 4, len(sims) - 1))[:self.k + 5]
                order = top[np.argsort(-sims[top])]
                self._near[key] = [self.words[j] for j in order if self.words[j].lower() != key.lower()][:self.k]
        return self._near[key]

    def variant(self, text: str, rng: random.Random) -> str | None:
        """``text`` changed by one operation chosen at random (None when none applies)."""
        tokens = text.split()
        n = max(1, round(self.rate * len(tokens)))
        operations = [self._replace, self._swap, self._delete]
        rng.shuffle(operations)
        for operation in operations:
            changed = operation(tokens, n, rng)
            if changed and changed != tokens:
                return " ".join(changed)
        return None

    def augment(self, examples: Sequence[Example], extra: int, below: int) -> list[Example]:
        """Up to ``extra`` new variants of each example whose label has fewer than ``below`` examples; they keep
        the example's label and weight."""
        counts = Counter(e.label for e in examples)
        rng = random.Random(self.seed)
        seen = {" ".join(e.text.split()) for e in examples}
        out = []
        for e in examples:
            if counts[e.label] >= below:
                continue
            made = 0
            for _ in range(3 * extra):
                text = self.variant(e.text, rng)
                if text is not None and text not in seen:
                    seen.add(text)
                    out.append(Example(text, e.label, e.weight))
                    made += 1
                    if made == extra:
                        break
        return out

    def _replace(self, tokens: list[str], n: int, rng: random.Random) -> list[str]:
        out = list(tokens)
        positions = list(range(len(tokens)))
        rng.shuffle(positions)
        for i in positions:
            m = WORD.match(tokens[i])
            near = self.neighbours(m.group(2)) if m else []
            if near:
                word = rng.choice(near)
                out[i] = m.group(1) + (word.capitalize() if m.group(2).istitle() else word) + m.group(3)
                n -= 1
                if not n:
                    break
        return out

    @staticmethod
    def _swap(tokens: list[str], n: int, rng: random.Random) -> list[str]:
        out = list(tokens)
        if len(out) > 1:
            for _ in range(n):
                i, j = rng.sample(range(len(out)), 2)
                out[i], out[j] = out[j], out[i]
        return out

    @staticmethod
    def _delete(tokens: list[str], n: int, rng: random.Random) -> list[str]:
        if len(tokens) <= n:
            return tokens
        gone = set(rng.sample(range(len(tokens)), n))
        return [t for i, t in enumerate(tokens) if i not in gone]
