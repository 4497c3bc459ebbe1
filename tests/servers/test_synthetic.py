"""The synthetic catalogue generator: determinism, shape, and that the whole server stack accepts it."""

from __future__ import annotations

import time

from servers.webshop.catalog import Catalog, document_contents
from servers.webshop.goals import GoalSet
from servers.webshop.synthetic import (
    CATEGORIES,
    generate_product,
    iter_documents,
    synthetic_asin,
    write_documents,
)


def test_deterministic_and_prefix_stable() -> None:
    assert generate_product(17, seed=3) == generate_product(17, seed=3)
    assert generate_product(17, seed=3) != generate_product(17, seed=4)
    assert [d["id"] for d in iter_documents(5)] == [synthetic_asin(i) for i in range(5)]
    assert synthetic_asin(0) == "SY00000000" and synthetic_asin(36) == "SY00000010"
    assert len({synthetic_asin(i) for i in range(0, 10**6, 997)}) == len(range(0, 10**6, 997))


def test_products_look_like_upstream() -> None:
    products = [generate_product(i) for i in range(2000)]
    assert {p["category"] for p in products} == set(CATEGORIES)
    with_options = [p for p in products if p["options"]]
    instructed = [p for p in products if "instruction_text" in p]
    assert 0.3 < len(with_options) / len(products) < 0.6
    assert 0.3 < len(instructed) / len(products) < 0.6
    assert any(len(p["pricing"]) == 2 for p in products) and any(p["Price"] == "$100.0" for p in products)
    for p in products[:200]:
        assert p["Title"] == p["name"] and p["Attributes"] and p["BulletPoints"]
        assert p["query"] == p["query"].lower() and p["product_category"].count("›") >= 2
        assert all(v == v.lower() and "/" not in v for vs in p["options"].values() for v in vs)
        for a in p.get("instruction_attributes", []):
            assert a in p["Attributes"]


def test_written_catalogue_loads_and_has_goals(tmp_path) -> None:
    path = write_documents(tmp_path / "docs.jsonl", 3000, seed=1, workers=2)
    cat = Catalog.from_documents(path, in_memory=False)
    assert len(cat) == 3000 and cat.product(5) == generate_product(5, seed=1)
    assert cat.contents(5) == document_contents(generate_product(5, seed=1))
    goals = GoalSet(cat)
    assert len(goals) > 1000 and goals[0].instruction_text


def test_fast_enough_for_a_million() -> None:
    t = time.perf_counter()
    for i in range(5000):
        generate_product(i)
    per_product = (time.perf_counter() - t) / 5000
    assert per_product < 300e-6  # a million products in well under 5 minutes per core
