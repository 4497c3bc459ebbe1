"""Catalogue loading: upstream raw processing, documents.jsonl (in memory and file-backed)."""

from __future__ import annotations

import json

import numpy as np
import pytest

from servers.webshop.catalog import Catalog, document_contents, process_raw_product

RAW = [
    {
        "asin": "B000000001", "name": "Soft Cotton Tee", "full_description": "A soft tee.",
        "small_description": ["Machine wash", "100% cotton"], "pricing": "$9.99$14.99",
        "customization_options": {
            "Color": [{"value": " Light Blue ", "image": "http://img/1"}, {"value": "Black/White", "image": None}],
            "Size": [{"value": "Small"}, {"value": "Large"}],
            "Empty": None,
        },
        "images": ["http://img/main"], "product_category": "Clothing › Women › Tops", "category": "fashion",
        "query": " Women's Tees ", "brand": "X", "list_price": "$20", "seller_id": "s",
    },
    {"asin": "B000000002", "name": "Mug", "full_description": "Mug.", "small_description": "Dishwasher safe",
     "pricing": "", "customization_options": "", "images": [], "product_category": "Kitchen", "category": "garden",
     "query": "mugs"},
    {"asin": "B000000001", "name": "duplicate", "pricing": "$1"},
    {"asin": "nan", "name": "bad"},
    {"asin": "B0000000011", "name": "too long"},
    {"asin": "B000000003", "name": "Tea", "full_description": "Green tea.", "small_description": ["Organic"],
     "pricing": "$877.8", "customization_options": {}, "images": None, "product_category": "Grocery",
     "category": "grocery", "query": "tea"},
]
INS = {
    "B000000001": {"attributes": ["machine wash", "cotton"], "instruction": "Find me machine wash tees",
                   "instruction_attributes": ["machine wash"]},
    "B000000003": {"attributes": []},
}


def test_process_raw_product_like_upstream() -> None:
    p = process_raw_product(RAW[0], INS)
    assert p["Title"] == "Soft Cotton Tee" and p["Description"] == "A soft tee."
    assert p["BulletPoints"] == ["Machine wash", "100% cotton"]
    assert p["pricing"] == [9.99, 14.99] and p["Price"] == "$9.99 to $14.99"
    assert p["options"] == {"color": ["light blue", "black | white"], "size": ["small", "large"]}
    assert p["option_to_image"]["light blue"] == "http://img/1"
    assert p["Attributes"] == ["machine wash", "cotton"]
    assert p["Reviews"] == [] and p["Rating"] == "N.A." and p["MainImage"] == "http://img/main"
    assert p["query"] == "women's tees"
    assert "brand" not in p and "list_price" not in p and "seller_id" not in p
    mug = process_raw_product(RAW[1], INS)
    assert mug["pricing"] == [100.0] and mug["Price"] == "$100.0"
    assert mug["BulletPoints"] == ["Dishwasher safe"] and mug["Attributes"] == ["DUMMY_ATTR"]
    assert process_raw_product(RAW[5], INS)["Price"] == "$877.8"


def test_document_contents_format() -> None:
    p = process_raw_product(RAW[0], INS)
    assert document_contents(p) == (
        "soft cotton tee a soft tee. machine wash color: light blue, black | white, and size: small, large"
    )


def test_from_raw_dedups_and_attaches_instructions() -> None:
    cat = Catalog.from_raw(RAW, INS, {"B000000002": [{"instruction": "a mug.", "instruction_attributes": ["x"]}]})
    assert cat.asins == ["B000000001", "B000000002", "B000000003"]
    assert cat.product(0)["instruction_text"] == "Find me machine wash tees"
    assert cat.product(2)["Attributes"] == [] and cat.product(2)["instruction_text"] is None
    assert [s.index for s in cat.goal_sources] == [0, 1]
    assert cat.goal_sources[0].option_sizes == (2, 2)
    assert cat.index_of("B000000003") == 2 and cat.index_of("nope") is None
    assert Catalog.from_raw(RAW, INS, num_products=1).asins == ["B000000001"]


def test_prices_seeded_and_within_ranges() -> None:
    a = Catalog.from_raw(RAW, INS)
    b = Catalog.from_raw(RAW, INS)
    assert np.array_equal(a.prices, b.prices)
    assert 9.99 <= a.price(0) <= 14.99 and a.price(1) == 100.0 and a.price(2) == 877.8
    assert Catalog.from_raw(RAW, INS, price_seed=7).price(0) != a.price(0)


def test_raw_file_and_documents_file(tmp_path) -> None:
    raw_path = tmp_path / "items_shuffle.json"
    raw_path.write_text(json.dumps(RAW))
    ins_path = tmp_path / "ins.json"
    ins_path.write_text(json.dumps(INS))
    cat = Catalog.load(raw_path, instructions=ins_path)
    docs = tmp_path / "documents.jsonl"
    with open(docs, "w") as f:
        for i in range(len(cat)):
            f.write(json.dumps({"id": cat.asins[i], "contents": cat.contents(i), "product": cat.product(i)}) + "\n")
    mem = Catalog.from_documents(docs)
    disk = Catalog.from_documents(docs, in_memory=False)
    assert (tmp_path / "documents.jsonl.catalog-cache.pkl").exists()
    again = Catalog.from_documents(docs, in_memory=False)  # from the sidecar cache
    for c in (mem, disk, again):
        assert c.asins == cat.asins
        assert [c.product(i) for i in range(3)] == [cat.product(i) for i in range(3)]
        assert list(c.iter_contents()) == [cat.contents(i) for i in range(3)]
        assert np.array_equal(c.prices, cat.prices)
    assert [s.index for s in disk.goal_sources] == [0]
    bad = tmp_path / "bad.json"
    bad.write_text("{}")
    with pytest.raises(ValueError):
        Catalog.load(bad)


def test_real_catalogue_counts(real_catalog) -> None:
    assert len(real_catalog) == 1000
    cats = {}
    for i in range(len(real_catalog)):
        c = real_catalog.product(i)["category"]
        cats[c] = cats.get(c, 0) + 1
    assert cats == {"beauty": 238, "electronics": 229, "garden": 216, "fashion": 200, "grocery": 117}
    assert sum(1 for s in real_catalog.goal_sources if s.instruction is not None) == 415


def test_contents_fast_path_and_fallback() -> None:
    from servers.webshop.catalog import _contents_of

    doc = {"id": "B1", "contents": 'say "hi", and \u00e9\\n', "product": {"contents": "no"}}
    assert _contents_of(json.dumps(doc).encode()) == doc["contents"]
    assert _contents_of(json.dumps(doc, ensure_ascii=False).encode()) == doc["contents"]
    reordered = {"product": {}, "contents": "x y", "id": "B2"}
    assert _contents_of(json.dumps(reordered).encode()) == "x y"
