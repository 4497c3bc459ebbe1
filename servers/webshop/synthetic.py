"""A seeded synthetic WebShop catalogue: the default when no real data is given, and scale tests.

Products look like upstream's processed products (same keys as ``load_products`` output) across the
five upstream categories (beauty, electronics, fashion, garden, grocery): made-up brands, titles built
from a product type, adjectives and attributes, descriptions, bullet points, options (colour, size,
flavour, capacity...), prices (single, ranges, and some missing shown as ``$100.0`` like upstream),
Amazon-like category paths and scraping queries. About 45% of products carry a synthetic instruction
in upstream's style (``"Find me <attrs> <query> with <attrs>"``) with its ``instruction_attributes``.

Product ``i`` depends only on ``(seed, i)``, so a catalogue of ``n`` products is a prefix of any larger
one with the same seed, and generation can be split across processes. ASINs are ``"SY"`` plus 8
base-36 digits of ``i`` (never a real ASIN).

All words below are our own choices; nothing comes from the upstream data.
"""

from __future__ import annotations

import json
import os
import random
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from .catalog import document_contents

__all__ = ["CATEGORIES", "generate_product", "iter_documents", "synthetic_asin", "write_documents"]

_B36 = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ"

_COLORS = (
    "black white navy blue red green grey beige pink purple brown olive burgundy khaki ivory teal "
    "charcoal silver gold coral mint lavender mustard camel"
).split()
_APPAREL_SIZES = ["x-small", "small", "medium", "large", "x-large", "xx-large", "3x-large"]
_SHOE_SIZES = ["6", "6.5", "7", "7.5", "8", "8.5", "9", "9.5", "10", "11"]

CATEGORIES: dict[str, dict[str, Any]] = {
    "beauty": {
        "root": "Beauty & Personal Care",
        "types": {
            "shampoo": "Hair Care", "conditioner": "Hair Care", "face serum": "Skin Care",
            "lip balm": "Skin Care", "nail polish": "Foot, Hand & Nail Care", "hair dryer": "Hair Care",
            "makeup brush set": "Tools & Accessories", "eyeshadow palette": "Makeup", "body lotion": "Skin Care",
            "sheet mask": "Skin Care", "clip-in hair extensions": "Hair Care", "eau de parfum": "Fragrance",
            "electric toothbrush": "Oral Care", "mineral sunscreen": "Skin Care", "bath bombs": "Bath & Bathing Accessories",
        },
        "attributes": [
            "long lasting", "paraben free", "cruelty free", "easy to use", "travel size", "natural ingredients",
            "sensitive skin", "dry skin", "high quality", "alcohol free", "hair growth", "fine lines",
            "easy clean", "sulfate free", "fragrance free", "argan oil",
        ],
        "adjectives": ["gentle", "nourishing", "professional", "hydrating", "lightweight", "soothing", "premium"],
        "options": [("color", _COLORS[:12]), ("size", ["1 fl oz", "1.7 fl oz", "3.4 fl oz", "8 fl oz", "pack of 2", "pack of 3"]),
                    ("scent", ["lavender", "vanilla", "rose", "citrus", "unscented", "coconut", "eucalyptus"])],
        "price": (2.3, 0.7),
    },
    "electronics": {
        "root": "Electronics",
        "types": {
            "wireless earbuds": "Headphones", "bluetooth speaker": "Portable Audio", "usb c cable": "Cables",
            "phone case": "Cell Phone Accessories", "power bank": "Batteries & Chargers", "hdmi cable": "Cables",
            "wireless mouse": "Computer Accessories", "mechanical keyboard": "Computer Accessories",
            "tablet stand": "Tablet Accessories", "smart watch band": "Wearable Technology",
            "security camera": "Security & Surveillance", "tv wall mount": "Television & Video",
            "car charger": "Batteries & Chargers", "memory card": "Data Storage", "webcam": "Computer Accessories",
        },
        "attributes": [
            "fast charging", "noise cancelling", "high definition", "easy install", "water resistant",
            "long battery life", "plug and play", "wall mounted", "high speed", "dust proof", "usb port",
            "heavy duty", "aluminum alloy", "quad core", "hands free", "night vision",
        ],
        "adjectives": ["portable", "compact", "ultra slim", "rugged", "smart", "dual", "premium"],
        "options": [("color", ["black", "white", "silver", "blue", "red", "space grey", "rose gold"]),
                    ("capacity", ["32gb", "64gb", "128gb", "256gb"]),
                    ("size", ["3 ft", "6 ft", "10 ft", "pack of 2", "pack of 3"])],
        "price": (3.3, 0.9),
    },
    "fashion": {
        "root": "Clothing, Shoes & Jewelry",
        "types": {
            "women's t-shirt": "Women › Clothing › Tops, Tees & Blouses", "men's jeans": "Men › Clothing › Jeans",
            "running shoes": "Men › Shoes › Athletic", "pullover hoodie": "Women › Clothing › Active",
            "summer dress": "Women › Clothing › Dresses", "yoga pants": "Women › Clothing › Active",
            "rain jacket": "Men › Clothing › Jackets & Coats", "ankle boots": "Women › Shoes › Boots",
            "swim trunks": "Men › Clothing › Swim", "wool socks": "Men › Clothing › Socks",
            "baseball cap": "Men › Accessories › Hats & Caps", "leather belt": "Men › Accessories › Belts",
            "sports bra": "Women › Clothing › Active", "cardigan sweater": "Women › Clothing › Sweaters",
            "men's polo shirt": "Men › Clothing › Shirts",
        },
        "attributes": [
            "machine wash", "slim fit", "loose fit", "long sleeve", "short sleeve", "elastic waist",
            "button closure", "quality materials", "daily wear", "non slip", "rubber sole", "hand wash",
            "tummy control", "high waist", "moisture wicking", "relaxed fit",
        ],
        "adjectives": ["casual", "classic", "stretchy", "breathable", "vintage", "cozy", "athletic"],
        "options": [("color", _COLORS), ("size", _APPAREL_SIZES), ("size", _SHOE_SIZES)],
        "price": (3.2, 0.6),
    },
    "garden": {
        "root": "Home & Kitchen",
        "types": {
            "throw pillow cover": "Home Décor Products › Decorative Pillows", "console table": "Furniture › Living Room Furniture",
            "bookshelf": "Furniture › Home Office Furniture", "area rug": "Home Décor Products › Area Rugs",
            "blackout curtains": "Home Décor Products › Window Treatments", "bath towel set": "Bath › Towels",
            "coffee table": "Furniture › Living Room Furniture", "canvas wall art": "Wall Art › Posters & Prints",
            "table lamp": "Lighting & Ceiling Fans › Lamps & Shades", "storage basket": "Storage & Organization",
            "bed sheet set": "Bedding › Sheets & Pillowcases", "office chair": "Furniture › Home Office Furniture",
            "ceramic planter": "Patio, Lawn & Garden › Planters", "garden hose": "Patio, Lawn & Garden › Watering Equipment",
            "shoe rack": "Storage & Organization",
        },
        "attributes": [
            "easy assemble", "solid wood", "living room", "machine washable", "space saving", "storage space",
            "mid century", "metal frame", "dining room", "eco friendly", "double sided", "easy clean",
            "bedroom", "stainless steel", "high density", "ready hang",
        ],
        "adjectives": ["modern", "rustic", "farmhouse", "minimalist", "decorative", "industrial", "boho"],
        "options": [("color", _COLORS[:16]), ("size", ["18 x 18 inch", "20 x 20 inch", "24 x 36 inch", "twin", "queen", "king"]),
                    ("style", ["modern", "classic", "farmhouse", "industrial"])],
        "price": (3.9, 0.8),
    },
    "grocery": {
        "root": "Grocery & Gourmet Food",
        "types": {
            "green tea": "Beverages › Tea", "protein bars": "Snack Foods › Bars", "coffee beans": "Beverages › Coffee",
            "dark chocolate": "Candy & Chocolate", "beef jerky": "Meat Snacks", "trail mix": "Snack Foods › Nuts & Seeds",
            "olive oil": "Pantry Staples › Oils", "pasta sauce": "Pantry Staples › Sauces", "granola": "Breakfast Foods",
            "hot sauce": "Condiments & Salad Dressings", "sparkling water": "Beverages › Water", "gummy candy": "Candy & Chocolate",
            "rice crackers": "Snack Foods › Crackers", "raw honey": "Pantry Staples › Honey", "bone broth": "Soups & Stocks",
        },
        "attributes": [
            "gluten free", "low sugar", "non gmo", "keto friendly", "sugar free", "plant based", "low carb",
            "high protein", "dairy free", "ready eat", "natural flavors", "usda organic", "low calorie",
            "individually wrapped", "kosher certified", "nut free",
        ],
        "adjectives": ["organic", "artisan", "gourmet", "classic", "family size", "roasted", "wholesome"],
        "options": [("flavor name", ["original", "honey", "spicy", "sea salt", "chocolate", "vanilla", "mango", "mint"]),
                    ("size", ["4 ounce", "8 ounce", "12 ounce (pack of 2)", "pack of 6", "pack of 12"])],
        "price": (2.6, 0.6),
    },
}
_CATEGORY_NAMES = list(CATEGORIES)
_CATEGORY_WEIGHTS = [238, 229, 200, 216, 117]  # similar mix to upstream's small catalogue

_SYL1 = ["Vel", "Nor", "Ka", "Lu", "Tri", "Zen", "Mo", "Bri", "Quo", "Sol", "Ar", "Fen", "Ori", "Pax", "Ru", "Eko"]
_SYL2 = ["ra", "vix", "ly", "on", "ia", "co", "ma", "dex", "lo", "ta", "nest", "bay"]
_USES = {
    "beauty": ["daily routine", "travel", "all skin types", "women and men", "salon results"],
    "electronics": ["home office", "gaming", "travel", "iphone and android", "outdoor use"],
    "fashion": ["everyday wear", "workout", "vacation", "office", "outdoor activities"],
    "garden": ["living room", "bedroom", "apartment", "patio", "home office"],
    "grocery": ["snacking", "breakfast", "on the go", "gift baskets", "meal prep"],
}
_FILLER = [
    "Backed by our satisfaction guarantee.",
    "Designed and tested by our in-house team.",
    "Makes a thoughtful gift for family and friends.",
    "Packaged with care to arrive in perfect condition.",
    "Check the size chart before ordering.",
    "Colors may vary slightly due to screen settings.",
]
_INSTRUCTION_STARTS = ["Find me", "I am looking for", "I need", "Show me"]


def synthetic_asin(i: int) -> str:
    """``"SY"`` + 8 base-36 digits of ``i`` (unique for i < 36**8)."""
    digits = []
    for _ in range(8):
        i, r = divmod(i, 36)
        digits.append(_B36[r])
    return "SY" + "".join(reversed(digits))


def _price(rng: random.Random, mu: float, sigma: float) -> tuple[list[float], str]:
    r = rng.random()
    if r < 0.08:
        return [100.0], "$100.0"  # upstream shows missing prices as $100.0
    low = round(min(max(rng.lognormvariate(mu, sigma), 1.0), 2500.0), 2)
    if r < 0.18:
        high = round(low * rng.uniform(1.1, 1.8), 2)
        return [low, high], f"${low} to ${high}"
    return [low], f"${low}"


def generate_product(i: int, seed: int = 0) -> dict[str, Any]:
    """Product ``i`` of the synthetic catalogue with ``seed`` (upstream's processed-product keys)."""
    rng = random.Random(seed * 1_000_003 + i)
    cat = rng.choices(_CATEGORY_NAMES, _CATEGORY_WEIGHTS)[0]
    spec = CATEGORIES[cat]
    ptype, sub = rng.choice(list(spec["types"].items()))
    brand = rng.choice(_SYL1) + rng.choice(_SYL2) + (rng.choice(_SYL2) if rng.random() < 0.3 else "")
    attrs = rng.sample(spec["attributes"], rng.randint(2, 5))
    adj = rng.sample(spec["adjectives"], 2)
    use = rng.choice(_USES[cat])
    type_title = ptype.title().replace("'S", "'s")
    title = f"{brand} {adj[0].title()} {type_title} with {attrs[0].title()} - {adj[1].title()}, {attrs[1].title()} for {use.title()}"
    description = (
        f"This {adj[0]} {ptype} from {brand} is made for {use}. "
        f"It is {attrs[0]} and {attrs[1]}" + (f", with {attrs[2]}" if len(attrs) > 2 else "") + ". "
        + rng.choice(_FILLER)
    )
    bullets = [f"{a.upper()}: {brand} {ptype} designed to be {a}. {rng.choice(_FILLER)}" for a in attrs[: rng.randint(2, len(attrs))]]
    bullets.append(f"WHAT YOU GET: 1 x {ptype}, ideal for {use}.")
    options: dict[str, list[str]] = {}
    if rng.random() < 0.45:
        groups = rng.sample(spec["options"], min(len(spec["options"]), rng.choice([1, 1, 2])))
        for name, values in groups:
            if name in options:
                continue
            options[name] = rng.sample(values, rng.randint(2, min(len(values), 7)))
    pricing, price_tag = _price(rng, *spec["price"])
    product: dict[str, Any] = {
        "asin": synthetic_asin(i),
        "name": title,
        "full_description": description,
        "images": [],
        "product_category": f"{spec['root']} › {sub} › {type_title}",
        "average_rating": "",
        "small_description": bullets,
        "customization_options": "",
        "category": cat,
        "query": ptype.lower(),
        "page": 1 + i % 20,
        "Title": title,
        "Description": description,
        "BulletPoints": bullets,
        "Reviews": [],
        "Rating": "N.A.",
        "Price": price_tag,
        "pricing": pricing,
        "options": options,
        "option_to_image": {v: None for vs in options.values() for v in vs},
        "Attributes": attrs,
        "MainImage": None,
    }
    if rng.random() < 0.45:
        k = rng.randint(1, min(3, len(attrs)))
        wanted = rng.sample(attrs, k)
        pre, post = wanted[: (k + 1) // 2], wanted[(k + 1) // 2 :]
        text = f"{rng.choice(_INSTRUCTION_STARTS)} {', '.join(pre)} {ptype.lower()}"
        if post:
            text += f" with {', '.join(post)}"
        product["instruction_text"] = text
        product["instruction_attributes"] = wanted
    return product


def iter_documents(n: int, seed: int = 0, start: int = 0) -> Iterator[dict[str, Any]]:
    """Documents ``{"id", "contents", "product"}`` for products ``start .. n-1``."""
    for i in range(start, n):
        p = generate_product(i, seed)
        yield {"id": p["asin"], "contents": document_contents(p), "product": p}


def _write_range(args: tuple[str, int, int, int]) -> str:
    path, seed, start, stop = args
    with open(path, "w", encoding="utf-8") as f:
        for doc in iter_documents(stop, seed, start):
            f.write(json.dumps(doc, ensure_ascii=False))
            f.write("\n")
    return path


def write_documents(path: str | os.PathLike[str], n: int, seed: int = 0, workers: int = 1) -> Path:
    """Write an ``n``-product synthetic catalogue as ``documents.jsonl`` (atomically)."""
    if n < 1:
        raise ValueError("a catalogue needs at least one product")
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + f".{os.getpid()}.tmp")
    workers = max(1, min(workers, n // 10_000 or 1))
    bounds = [n * k // workers for k in range(workers + 1)]
    parts = [(f"{tmp}.part{k}", seed, bounds[k], bounds[k + 1]) for k in range(workers)]
    try:
        if workers == 1:
            _write_range(parts[0])
        else:
            import multiprocessing as mp

            with mp.get_context("fork").Pool(workers) as pool:
                pool.map(_write_range, parts)
        with open(tmp, "wb") as out:
            for part, *_ in parts:
                with open(part, "rb") as f:
                    while chunk := f.read(1 << 22):
                        out.write(chunk)
        os.replace(tmp, path)
    finally:
        for part, *_ in parts:
            Path(part).unlink(missing_ok=True)
        Path(tmp).unlink(missing_ok=True)
    return path
