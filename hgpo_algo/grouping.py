"""Vectorised grouping and in-group normalisation (float64).

A :class:`Grouping` assigns each of ``m`` rows to a group given by one or two integer key columns. It is
built with one sort; every statistic after that is a ``reduceat`` over contiguous segments, so nothing loops
over rows in Python.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

import numpy as np

__all__ = ["EPS", "Grouping", "NormMode", "combine_codes", "is_all_equal"]

EPS = 1e-6
"""Added to the std (``mean_std_norm``) and to the weight sum of HGPO's aggregation."""

NormMode = Literal["mean_std_norm", "mean_norm"]
NORM_MODES: tuple[str, ...] = ("mean_std_norm", "mean_norm")


def combine_codes(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """One int64 code per row for the pair ``(a, b)`` of non-negative int64 codes (not dense)."""
    base = int(b.max()) + 1 if b.size else 1
    return a.astype(np.int64) * base + b.astype(np.int64)


def is_all_equal(spread: np.ndarray, mean: np.ndarray) -> np.ndarray:
    """The spec's all-equal test: ``max - min <= 1e-9 * max(1, |mean|)``."""
    return spread <= 1e-9 * np.maximum(1.0, np.abs(mean))


@dataclass(frozen=True)
class Grouping:
    """Rows partitioned into groups.

    Attributes:
        perm: ``(m,)`` row indices sorted so that each group's rows are contiguous.
        starts: ``(G,)`` offset of each group's segment in ``perm``.
        counts: ``(G,)`` group sizes.
        codes: ``(m,)`` dense group code of each row, in ``[0, G)``.
    """

    perm: np.ndarray
    starts: np.ndarray
    counts: np.ndarray
    codes: np.ndarray

    @classmethod
    def from_codes(cls, raw: np.ndarray) -> Grouping:
        """Group rows by equal values of an int64 code array ``(m,)``."""
        m = raw.shape[0]
        perm = np.argsort(raw)  # quicksort: SIMD-accelerated; order within a group does not matter
        sorted_raw = raw[perm]
        boundary = np.empty(m, dtype=bool)
        if m:
            boundary[0] = True
            np.not_equal(sorted_raw[1:], sorted_raw[:-1], out=boundary[1:])
        starts = np.flatnonzero(boundary)
        counts = np.diff(np.append(starts, m))
        codes = np.empty(m, dtype=np.int64)
        codes[perm] = np.cumsum(boundary) - 1
        return cls(perm=perm, starts=starts, counts=counts, codes=codes)

    @property
    def n_groups(self) -> int:
        return int(self.starts.shape[0])

    def size_per_row(self) -> np.ndarray:
        """``(m,)`` size of each row's group."""
        return self.counts[self.codes]

    def normalize(
        self,
        values: np.ndarray,
        *,
        mode: NormMode,
        ddof: int,
        singleton: Literal["zero", "unit"] = "zero",
        eps: float = EPS,
    ) -> np.ndarray:
        """Normalise ``values`` ``(m,)`` within each group; returns ``(m,)`` float64.

        ``mean_std_norm``: ``(x - mean) / (std + eps)`` with ``std`` computed with ``ddof`` (0: population,
        1: sample). ``mean_norm``: ``x - mean``. A group whose values are all equal (see
        :func:`is_all_equal`) gets exactly 0, and so does a single value within that tolerance of its group's
        mean. A group of one gets 0 (``singleton="zero"``) or is normalised
        with mean 0 and std 1 (``singleton="unit"``, GRPO's rule).
        """
        if mode not in NORM_MODES:
            raise ValueError(f"unknown normalisation mode {mode!r} (choose from {', '.join(NORM_MODES)})")
        m = values.shape[0]
        if m == 0:
            return np.zeros(0, dtype=np.float64)
        x = values.astype(np.float64, copy=False)[self.perm]
        counts = self.counts.astype(np.float64)
        mean = np.add.reduceat(x, self.starts) / counts
        mean_rows = np.repeat(mean, self.counts)
        dev = x - mean_rows
        # a value within rounding of its group's mean is the mean: its deviation is exactly 0, so the
        # outcome of HGPO's exact-zero filter does not hinge on summation order
        dev[is_all_equal(np.abs(dev), mean_rows)] = 0.0
        spread = np.maximum.reduceat(x, self.starts) - np.minimum.reduceat(x, self.starts)
        zero = is_all_equal(spread, mean)
        if mode == "mean_std_norm":
            denom = np.maximum(counts - ddof, 1.0)
            std = np.sqrt(np.add.reduceat(dev * dev, self.starts) / denom)
            scale = 1.0 / (std + eps)
        else:
            scale = np.ones_like(mean)
        single = self.counts == 1
        if singleton == "unit":
            # mean 0, std 1: the normalised value is x / (1 + eps), or x itself under mean_norm
            dev = np.where(np.repeat(single, self.counts), x, dev)
            scale = np.where(single, 1.0 / (1.0 + eps) if mode == "mean_std_norm" else 1.0, scale)
            zero &= ~single
        else:
            zero |= single
        scale = np.where(zero, 0.0, scale)
        out = np.empty(m, dtype=np.float64)
        out[self.perm] = dev * np.repeat(scale, self.counts)
        return out
