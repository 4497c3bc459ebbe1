"""Shopping goals, as upstream WebShop builds them (``engine/goal.py``), with seeded price ceilings.

Synthetic goals: for each product with a synthetic instruction, in catalogue order, one goal per
combination of its option values (option names sorted, ``itertools.product`` order; a product without
options gives one goal). Human goals: one per human instruction entry with non-empty
``instruction_attributes``. Both get a price ceiling: take the first four of $10, $20, ..., $990 strictly
above the product's purchase price; when there are at least two, pick two at random and keep the larger
(``price_upper``) and append ``", and price lower than <price_upper:.2f> dollars"``; otherwise
``price_upper`` is 1,000,000 and no text is added.

Then the list is shuffled exactly like ``random.seed(233); random.shuffle(goals)`` (CPython's Mersenne
Twister; the permutation depends only on the seed and the number of goals), so goal indices match
upstream. Splits by index: **test = [0, 500)**, train = [500, end) (verl-agent's convention for the small
catalogue; upstream's baselines also use [500, 1500) as eval on the full one).

Documented fixes of upstream bugs:

- price ceilings come from ``numpy.random.default_rng([price_seed, 1])`` (human goals:
  ``[price_seed, 2]``), not the unseeded global ``random``, so goal texts are the same in every run and
  every worker (upstream's goal 0 said "lower than 40.00" in one run and "50.00" in another);
- :meth:`GoalSet.sample` draws with the weights correctly (upstream's text env never draws goal 0);
- a product with an instruction but no instruction attributes gives no goal (upstream asserts).

Goals are stored compactly (a source product and a combination number per goal) and materialised on
demand, so a million-product catalogue does not hold millions of dicts.
"""

from __future__ import annotations

import math
import os
import random
from dataclasses import asdict, dataclass
from functools import lru_cache
from typing import Any

import numpy as np

from .cache import default_cache_dir
from .catalog import PRICE_SEED, Catalog

__all__ = ["PRICE_RANGE", "SHUFFLE_SEED", "TEST_SIZE", "Goal", "GoalSet", "price_ceilings", "shuffle_order"]

PRICE_RANGE = tuple(range(10, 1000, 10))
SHUFFLE_SEED = 233
TEST_SIZE = 500
NO_CEILING = 1000000


@dataclass(frozen=True)
class Goal:
    """One goal record, with upstream's field names."""

    asin: str
    category: str
    query: str
    name: str
    product_category: str
    instruction_text: str
    attributes: list[str]
    price_upper: float
    goal_options: dict[str, str] | list[str]
    weight: float

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


def price_ceilings(prices: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Price ceilings for purchase prices ``prices`` (dollars, shape (n,)); NO_CEILING where none applies.

    Vectorised form of upstream's ``sorted(random.sample(first_four_above_price, 2))[1]``.
    """
    prices = np.asarray(prices, dtype=np.float64)
    first = (np.floor(prices / 10.0) + 1.0) * 10.0  # smallest multiple of 10 strictly above the price
    first = np.maximum(first, 10.0)
    count = np.clip((990.0 - first) // 10.0 + 1.0, 0, 4).astype(np.int64)
    u = rng.random((2, len(prices)))
    ok = count >= 2
    i1 = np.floor(u[0] * count).astype(np.int64)
    i2 = np.floor(u[1] * np.maximum(count - 1, 1)).astype(np.int64)
    i2 = i2 + (i2 >= i1)
    upper = first + 10.0 * np.maximum(i1, i2)
    return np.where(ok, upper, float(NO_CEILING))


def shuffle_order(n: int, cache: bool = True) -> np.ndarray:
    """Int64 (n,): ``order[i]`` = which goal lands at position ``i`` after upstream's
    ``random.seed(233); random.shuffle(goals)``.

    CPython's shuffle is a Python loop (seconds for millions of goals) and depends only on ``n``, so
    large orders are cached as ``shuffle-233-<n>.npy`` in the server's cache directory.
    """
    path = default_cache_dir() / f"shuffle-{SHUFFLE_SEED}-{n}.npy"
    if cache and n > 100_000 and path.exists():
        try:
            order = np.load(path)
            if order.shape == (n,):
                return order
        except (OSError, ValueError):
            pass
    perm = list(range(n))
    random.Random(SHUFFLE_SEED).shuffle(perm)
    order = np.array(perm, dtype=np.int64)
    if cache and n > 100_000:
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            tmp = path.with_name(f"{path.name}.{os.getpid()}.tmp.npy")
            np.save(tmp, order)
            os.replace(tmp, path)
        except OSError:
            pass  # read-only cache: compute again next time
    return order


def _price_text(price_upper: float) -> str:
    return "" if price_upper >= NO_CEILING else f", and price lower than {price_upper:.2f} dollars"


class GoalSet:
    """All goals of a catalogue after the seed-233 shuffle; ``goals[i]`` is goal ``i``.

    ``human=False``: synthetic goals (upstream text-env default, 6,910 on the small catalogue);
    ``human=True``: human goals.
    """

    def __init__(self, catalog: Catalog, human: bool = False, price_seed: int = PRICE_SEED) -> None:
        self.catalog = catalog
        self.human = human
        sources = catalog.goal_sources
        if human:
            units = [(s_i, e_i) for s_i, s in enumerate(sources) for e_i, e in enumerate(s.human)
                     if e.get("instruction_attributes")]
            src = np.array([u[0] for u in units], dtype=np.int64)
            sub = np.array([u[1] for u in units], dtype=np.int64)
            prod = np.array([sources[s].index for s in src], dtype=np.int64)
            rng = np.random.default_rng([price_seed, 2])
            uppers = price_ceilings(catalog.prices[prod], rng) if len(prod) else np.zeros(0)
            weights = np.ones(len(src))
            goal_upper = uppers
        else:
            valid = [i for i, s in enumerate(sources) if s.instruction is not None and s.attributes]
            ncombo = np.array([math.prod(sources[i].option_sizes) for i in valid], dtype=np.int64)
            prod_of_valid = np.array([sources[i].index for i in valid], dtype=np.int64)
            rng = np.random.default_rng([price_seed, 1])
            uppers = price_ceilings(catalog.prices[prod_of_valid], rng) if valid else np.zeros(0)
            # weight = mean over the goal's attributes of 1 / (number of goals carrying it); vectorised,
            # with the same summation order as upstream's Python loop
            attr_ids: dict[str, int] = {}
            flat_attr: list[int] = []
            flat_src: list[int] = []
            for k, i in enumerate(valid):
                for a in sources[i].attributes:
                    flat_attr.append(attr_ids.setdefault(a, len(attr_ids)))
                    flat_src.append(k)
            fa, fs = np.array(flat_attr, dtype=np.int64), np.array(flat_src, dtype=np.int64)
            counts = np.bincount(fa, weights=ncombo[fs].astype(np.float64)) if len(fa) else np.zeros(0)
            per_source_w = np.bincount(fs, weights=1.0 / counts[fa], minlength=len(valid)) / np.bincount(
                fs, minlength=len(valid)
            ) if len(valid) else np.zeros(0)
            src = np.repeat(np.array(valid, dtype=np.int64), ncombo)
            starts = np.repeat(np.cumsum(ncombo) - ncombo, ncombo)
            sub = np.arange(int(ncombo.sum()), dtype=np.int64) - starts
            rep = np.repeat(np.arange(len(valid)), ncombo)
            weights = per_source_w[rep] if len(valid) else np.zeros(0)
            goal_upper = uppers[rep] if len(valid) else np.zeros(0)
        order = shuffle_order(len(src))
        self._src = src[order] if len(src) else src
        self._sub = sub[order] if len(sub) else sub
        self.weights = weights[order] if len(weights) else weights
        self._upper = goal_upper[order] if len(goal_upper) else goal_upper
        self._cum = np.cumsum(self.weights)
        self._get = lru_cache(maxsize=16384)(self._materialise)

    def __len__(self) -> int:
        return len(self._src)

    def __getitem__(self, i: int) -> Goal:
        if not -len(self) <= i < len(self):
            raise IndexError(f"goal index {i} out of range [0, {len(self)})")
        return self._get(i % len(self))

    def split(self, name: str) -> range:
        """Goal indices of split ``name``: ``test`` [0, 500), ``train`` [500, end), ``all``."""
        n = len(self)
        if name == "test":
            return range(min(TEST_SIZE, n))
        if name == "train":
            return range(min(TEST_SIZE, n), n)
        if name == "all":
            return range(n)
        raise ValueError(f"unknown split {name!r} (test, train, all)")

    def sample(self, rng: random.Random | np.random.Generator) -> int:
        """A goal index drawn with probability proportional to its weight."""
        total = float(self._cum[-1]) if len(self._cum) else 0.0
        if total <= 0:
            raise ValueError("no goals to sample from")
        u = rng.random() * total
        return int(min(np.searchsorted(self._cum, u, side="right"), len(self) - 1))

    def _materialise(self, i: int) -> Goal:
        source = self.catalog.goal_sources[int(self._src[i])]
        p = self.catalog.product(source.index)
        upper = float(self._upper[i])
        price_upper: float = int(upper) if upper >= NO_CEILING else upper
        if self.human:
            entry = source.human[int(self._sub[i])]
            text = str(entry["instruction"]).strip(".") + _price_text(upper)
            attributes = list(entry["instruction_attributes"])
            goal_options: dict[str, str] | list[str] = list(entry.get("instruction_options") or [])
        else:
            opts = p.get("options") or {}
            names = sorted(opts)
            combo = int(self._sub[i])
            chosen: list[str] = []
            for name in reversed(names):
                values = opts[name]
                chosen.append(values[combo % len(values)])
                combo //= len(values)
            goal_options = dict(zip(names, reversed(chosen), strict=True))
            option_text = ", and ".join(f"{k}: {v}" for k, v in goal_options.items())
            option_text = f" with {option_text}" if option_text else ""
            text = f"{source.instruction}{option_text}{_price_text(upper)}"
            attributes = list(source.attributes)
        return Goal(
            asin=p["asin"],
            category=p.get("category", ""),
            query=p.get("query", ""),
            name=p.get("Title") if not self.human else p.get("name", p.get("Title", "")),
            product_category=p.get("product_category", ""),
            instruction_text=text,
            attributes=attributes,
            price_upper=price_upper,
            goal_options=goal_options,
            weight=float(self.weights[i]),
        )
