"""The product catalogue: upstream WebShop's file formats in, one product model out.

Two input forms are accepted:

- **raw** (upstream ``items_shuffle*.json``): a JSON list of scraped products, processed the way
  upstream ``load_products`` does (:func:`process_raw_product`), with ``items_ins_v2*.json``
  attributes/instructions and optionally ``items_human_ins.json`` human instructions;
- **documents** (upstream ``search_engine/resources*/documents.jsonl``, and what
  ``hgpo webshop generate`` writes): one ``{"id", "contents", "product"}`` object per line where
  ``product`` is already processed. Products may carry ``instruction_text`` and
  ``instruction_attributes`` (our synthetic catalogues do); an ``items_ins_v2`` file, if given,
  overrides them.

A product is a plain dict with upstream's keys (``asin``, ``name``, ``Title``, ``Description``,
``BulletPoints``, ``Price``, ``pricing``, ``options``, ``Attributes``, ``category``, ``query``,
``product_category``, ...). Large documents files are not held in memory: the catalogue keeps byte
offsets into the file and parses a product when it is asked for (with a small cache),
and a compact sidecar (``<file>.catalog-cache.pkl``) remembers what start-up needs so a restart does
not re-read every line.

Purchase prices (upstream ``generate_product_prices``) are drawn here. Upstream draws price ranges
from Python's unseeded global ``random``; we draw them from ``numpy.random.default_rng([seed, 0])``
(default ``seed`` 233), so the same catalogue always has the same prices (documented fix).
"""

from __future__ import annotations

import json
import os
import pickle
import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from decimal import Decimal, InvalidOperation
from functools import lru_cache
from pathlib import Path
from typing import Any

import numpy as np

__all__ = [
    "DROPPED_RAW_KEYS",
    "Catalog",
    "GoalSource",
    "document_contents",
    "process_raw_product",
]

PRICE_SEED = 233
_CACHE_VERSION = 3

DROPPED_RAW_KEYS = (
    "product_information",
    "brand",
    "brand_url",
    "list_price",
    "availability_quantity",
    "availability_status",
    "total_reviews",
    "total_answered_questions",
    "seller_id",
    "seller_name",
    "fulfilled_by_amazon",
    "fast_track_message",
    "aplus_present",
    "small_description_old",
)


def _parse_pricing(raw: Any) -> tuple[list[float], str]:
    """Upstream price parsing: ``"$9.99$14.99"`` -> ``([9.99, 14.99], "$9.99 to $14.99")``."""
    if not raw:
        return [100.0], "$100.0"
    prices: list[float] = []
    for piece in str(raw).split("$")[1:]:
        digits = re.sub(r"[^\d.]", "", piece)
        try:
            prices.append(float(Decimal(digits)))
        except InvalidOperation:
            continue
    if not prices:
        return [100.0], "$100.0"
    if len(prices) == 1:
        return prices, f"${prices[0]}"
    return prices[:2], f"${prices[0]} to ${prices[1]}"


def process_raw_product(raw: dict[str, Any], ins_v2: dict[str, Any] | None = None) -> dict[str, Any]:
    """One raw scraped product -> upstream's processed product (``load_products`` step 4)."""
    p = {k: v for k, v in raw.items() if k not in DROPPED_RAW_KEYS}
    asin = p["asin"]
    p["Title"] = p.get("name") or ""
    p["Description"] = p.get("full_description") or ""
    p["Reviews"] = []
    p["Rating"] = "N.A."
    bullets = p.get("small_description") or []
    p["BulletPoints"] = [bullets] if isinstance(bullets, str) else list(bullets)
    p["pricing"], p["Price"] = _parse_pricing(p.get("pricing"))
    options: dict[str, list[str]] = {}
    option_to_image: dict[str, Any] = {}
    for name, contents in (p.get("customization_options") or {}).items():
        if contents is None:
            continue
        values = []
        for content in contents:
            value = str(content["value"]).strip().replace("/", " | ").lower()
            values.append(value)
            option_to_image[value] = content.get("image")
        options[name.lower()] = values
    p["options"] = options
    p["option_to_image"] = option_to_image
    entry = (ins_v2 or {}).get(asin)
    p["Attributes"] = list(entry["attributes"]) if entry and "attributes" in entry else ["DUMMY_ATTR"]
    images = p.get("images") or [None]
    p["MainImage"] = images[0]
    p["query"] = str(p.get("query") or "").lower().strip()
    return p


def document_contents(p: dict[str, Any]) -> str:
    """The text upstream indexes for a product: title, description, first bullet, options; lower-cased."""
    option_text = ", and ".join(f"{name}: {', '.join(values)}" for name, values in (p.get("options") or {}).items())
    bullets = p.get("BulletPoints") or [""]
    return " ".join([p.get("Title") or "", p.get("Description") or "", bullets[0] or "", option_text]).lower()


@dataclass(slots=True)
class GoalSource:
    """What goal generation needs from one product (no full product parse at start-up).

    ``instruction``/``attributes`` come from the synthetic instruction (None when the product has
    none); ``option_sizes`` are the value counts of the product's options in sorted-name order;
    ``human`` holds the product's human instruction entries.
    """

    index: int
    instruction: str | None
    attributes: list[str]
    option_sizes: tuple[int, ...]
    human: list[dict[str, Any]] = field(default_factory=list)


class Catalog:
    """Products ``0..N-1`` in catalogue order, with purchase prices and goal sources.

    ``asins``: list of N ASIN strings; ``prices``: float64 array (N,) of purchase prices in dollars;
    ``goal_sources``: products that carry a synthetic or human instruction.
    """

    def __init__(
        self,
        asins: list[str],
        pricing_low: np.ndarray,
        pricing_high: np.ndarray,
        goal_sources: list[GoalSource],
        products: list[dict[str, Any]] | None = None,
        contents: list[str] | None = None,
        documents_path: Path | None = None,
        offsets: np.ndarray | None = None,
        price_seed: int = PRICE_SEED,
        source: str = "",
    ) -> None:
        self.asins = asins
        self.source = source
        self._index = {a: i for i, a in enumerate(asins)}
        self._products = products
        self._contents = contents
        self._path = documents_path
        self._offsets = offsets
        self._fd: int | None = None
        self.goal_sources = goal_sources
        self.pricing_low = pricing_low
        self.pricing_high = pricing_high
        rng = np.random.default_rng([price_seed, 0])
        draws = rng.random(len(asins))
        # upstream: random.uniform(low, high) for a price range, else the single price
        self.prices = np.where(pricing_high != pricing_low, pricing_low + (pricing_high - pricing_low) * draws, pricing_low)
        if documents_path is not None:
            self._load_line = lru_cache(maxsize=8192)(self._parse_line)

    # ------------------------------------------------------------------ access
    @property
    def documents_path(self) -> Path | None:
        """The documents file a file-backed catalogue reads products from (None when in memory)."""
        return self._path

    def __len__(self) -> int:
        return len(self.asins)

    def index_of(self, asin: str) -> int | None:
        """Catalogue position of ``asin`` (exact, upper-case ASIN), or None."""
        return self._index.get(asin)

    def product(self, i: int) -> dict[str, Any]:
        """The processed product at position ``i`` (do not mutate it: it may be cached)."""
        if self._products is not None:
            return self._products[i]
        return self._load_line(i)[1]

    def contents(self, i: int) -> str:
        """The indexed text of product ``i``."""
        if self._contents is not None:
            return self._contents[i]
        if self._products is not None:
            return document_contents(self._products[i])
        return self._load_line(i)[0]

    def iter_contents(self) -> Iterator[str]:
        """Indexed text of every product, in order (streams a documents file without caching)."""
        if self._path is None:
            for i in range(len(self)):
                yield self.contents(i)
            return
        for _, line in self._iter_lines():
            yield _contents_of(line)

    def price(self, i: int) -> float:
        return float(self.prices[i])

    # ------------------------------------------------------------------ file-backed documents
    def _parse_line(self, i: int) -> tuple[str, dict[str, Any]]:
        # positional reads (thread-safe, no shared file offset); an mmap would let kernel read-ahead
        # pull megabytes of the file into the process's RSS for every scattered product lookup
        if self._offsets is None or self._path is None:
            raise RuntimeError("this catalogue is not backed by a documents file")
        if self._fd is None:
            self._fd = os.open(self._path, os.O_RDONLY)
        a, b = int(self._offsets[i]), int(self._offsets[i + 1])
        doc = json.loads(os.pread(self._fd, b - a, a))
        return doc["contents"], doc["product"]

    def _iter_lines(self) -> Iterator[tuple[int, bytes]]:
        if self._path is None:
            raise RuntimeError("this catalogue is not backed by a documents file")
        with open(self._path, "rb") as f:
            for i, line in enumerate(f):
                if line.strip():
                    yield i, line

    # ------------------------------------------------------------------ constructors
    @classmethod
    def from_products(
        cls,
        products: list[dict[str, Any]],
        contents: list[str] | None = None,
        price_seed: int = PRICE_SEED,
        source: str = "",
    ) -> Catalog:
        """Catalogue from processed products held in memory (ASINs must be unique)."""
        asins = [p["asin"] for p in products]
        if len(set(asins)) != len(asins):
            raise ValueError("duplicate ASINs in catalogue")
        low = np.array([float(p["pricing"][0]) for p in products], dtype=np.float64)
        high = np.array([float(p["pricing"][-1]) for p in products], dtype=np.float64)
        sources = [s for i, p in enumerate(products) if (s := _goal_source(i, p)) is not None]
        if contents is None:
            contents = [document_contents(p) for p in products]
        return cls(asins, low, high, sources, products=products, contents=contents, price_seed=price_seed, source=source)

    @classmethod
    def from_raw(
        cls,
        raw_products: list[dict[str, Any]],
        ins_v2: dict[str, Any] | None = None,
        human_ins: dict[str, Any] | None = None,
        num_products: int | None = None,
        price_seed: int = PRICE_SEED,
        source: str = "",
    ) -> Catalog:
        """Upstream ``load_products`` over a raw product list (dedup, ASIN checks, processing)."""
        if num_products is not None:
            raw_products = raw_products[:num_products]
        seen: set[str] = set()
        products = []
        for raw in raw_products:
            asin = raw.get("asin")
            if not isinstance(asin, str) or asin == "nan" or len(asin) > 10 or asin in seen:
                continue
            seen.add(asin)
            p = process_raw_product(raw, ins_v2)
            _attach_instructions(p, ins_v2, human_ins)
            products.append(p)
        return cls.from_products(products, price_seed=price_seed, source=source)

    @classmethod
    def from_documents(
        cls,
        path: str | os.PathLike[str],
        ins_v2: dict[str, Any] | None = None,
        human_ins: dict[str, Any] | None = None,
        price_seed: int = PRICE_SEED,
        in_memory: bool | None = None,
    ) -> Catalog:
        """Catalogue from a ``documents.jsonl`` file.

        Files under 64 MB are read into memory; larger ones stay on disk (byte offsets, positional reads) and a
        sidecar cache speeds up the next start. ``ins_v2``/``human_ins`` override instructions.
        """
        path = Path(path).resolve()
        size = path.stat().st_size
        if in_memory is None:
            in_memory = size < 64 * 2**20
        if in_memory or ins_v2 is not None or human_ins is not None:
            products, contents = [], []
            with open(path, encoding="utf-8") as f:
                for line in f:
                    if not line.strip():
                        continue
                    doc = json.loads(line)
                    p = doc["product"]
                    _attach_instructions(p, ins_v2, human_ins)
                    products.append(p)
                    contents.append(doc.get("contents") or document_contents(p))
            return cls.from_products(products, contents, price_seed=price_seed, source=str(path))
        state = _load_sidecar(path)
        if state is None:
            state = _scan_documents(path)
            _save_sidecar(path, state)
        return cls(
            state["asins"],
            state["low"],
            state["high"],
            state["sources"],
            documents_path=path,
            offsets=state["offsets"],
            price_seed=price_seed,
            source=str(path),
        )

    @classmethod
    def load(
        cls,
        catalog: str | os.PathLike[str],
        instructions: str | os.PathLike[str] | None = None,
        human_goals: str | os.PathLike[str] | None = None,
        price_seed: int = PRICE_SEED,
    ) -> Catalog:
        """Open ``catalog`` by its form: ``*.jsonl`` documents, else a raw JSON product list."""
        catalog = Path(catalog)
        ins_v2 = _read_json(instructions) if instructions else None
        human = _read_json(human_goals) if human_goals else None
        if catalog.suffix == ".jsonl":
            return cls.from_documents(catalog, ins_v2, human, price_seed=price_seed)
        raw = _read_json(catalog)
        if not isinstance(raw, list):
            raise ValueError(f"{catalog}: expected a JSON list of products (upstream items_shuffle format)")
        return cls.from_raw(raw, ins_v2, human, price_seed=price_seed, source=str(catalog))


_DECODER = json.JSONDecoder()
_CONTENTS_KEY = '{"id": '


def _contents_of(line: bytes) -> str:
    """The ``contents`` field of one documents.jsonl line.

    Lines written by upstream and by us start ``{"id": ..., "contents": ...``: decode just those two
    values instead of the whole product (several times faster on large catalogues).
    """
    text = line.decode("utf-8")
    if text.startswith(_CONTENTS_KEY):
        try:
            _, end = _DECODER.raw_decode(text, len(_CONTENTS_KEY))
            if text.startswith(', "contents": ', end):
                return _DECODER.raw_decode(text, end + 14)[0]
        except ValueError:
            pass
    return json.loads(text)["contents"]


def _read_json(path: str | os.PathLike[str]) -> Any:
    with open(path, encoding="utf-8") as f:
        return json.load(f)


def _attach_instructions(p: dict[str, Any], ins_v2: dict[str, Any] | None, human_ins: dict[str, Any] | None) -> None:
    asin = p["asin"]
    if ins_v2 is not None:
        entry = ins_v2.get(asin) or {}
        if "attributes" in entry:
            p["Attributes"] = list(entry["attributes"])
        p["instruction_text"] = entry.get("instruction")
        p["instruction_attributes"] = entry.get("instruction_attributes")
    if human_ins is not None and asin in human_ins:
        p["instructions"] = human_ins[asin]


def _goal_source(i: int, p: dict[str, Any]) -> GoalSource | None:
    instruction = p.get("instruction_text")
    human = [h for h in (p.get("instructions") or []) if isinstance(h, dict)]
    if instruction is None and not human:
        return None
    opts = p.get("options") or {}
    sizes = tuple(len(opts[name]) for name in sorted(opts))
    return GoalSource(i, instruction, list(p.get("instruction_attributes") or []), sizes, human)


def _scan_documents(path: Path) -> dict[str, Any]:
    offsets = [0]
    asins: list[str] = []
    low: list[float] = []
    high: list[float] = []
    sources: list[GoalSource] = []
    pos = 0
    with open(path, "rb") as f:
        for line in f:
            pos += len(line)
            if not line.strip():
                offsets[-1] = pos
                continue
            doc = json.loads(line)
            p = doc["product"]
            i = len(asins)
            asins.append(p["asin"])
            low.append(float(p["pricing"][0]))
            high.append(float(p["pricing"][-1]))
            s = _goal_source(i, p)
            if s is not None:
                sources.append(s)
            offsets.append(pos)
    if len(set(asins)) != len(asins):
        raise ValueError(f"{path}: duplicate ASINs in catalogue")
    return {
        "asins": asins,
        "low": np.array(low),
        "high": np.array(high),
        "sources": sources,
        "offsets": np.array(offsets, dtype=np.int64),
    }


def _sidecar(path: Path) -> Path:
    return path.with_name(path.name + ".catalog-cache.pkl")


def _stamp(path: Path) -> tuple[int, int, int]:
    st = path.stat()
    return (_CACHE_VERSION, st.st_size, st.st_mtime_ns)


def _load_sidecar(path: Path) -> dict[str, Any] | None:
    side = _sidecar(path)
    if not side.exists():
        return None
    try:
        with open(side, "rb") as f:
            stamp, state = pickle.load(f)  # our own cache file, written by _save_sidecar
    except Exception:
        return None
    if stamp != _stamp(path):
        return None
    # goal sources are stored as plain tuples: unpickling half a million objects is much slower
    state["sources"] = [GoalSource(*t) for t in state["sources"]]
    return state


def _save_sidecar(path: Path, state: dict[str, Any]) -> None:
    side = _sidecar(path)
    tmp = side.with_name(side.name + f".{os.getpid()}.tmp")
    try:
        plain = {**state, "sources": [(g.index, g.instruction, g.attributes, g.option_sizes, g.human) for g in state["sources"]]}
        with open(tmp, "wb") as f:
            pickle.dump((_stamp(path), plain), f, protocol=pickle.HIGHEST_PROTOCOL)
        os.replace(tmp, side)
    except OSError:
        tmp.unlink(missing_ok=True)  # read-only location: just no cache
