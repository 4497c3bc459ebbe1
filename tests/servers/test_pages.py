"""Page model: upstream's text and text_rich formats, clickables, and the HTML view."""

from __future__ import annotations

from servers.webshop import pages as P

PRODUCT = {
    "asin": "B000000001", "Title": "Sexy Club Dress", "Price": "$19.99 to $27.99", "Rating": "N.A.",
    "options": {"size": ["x-small", "small"], "color": ["black", "light blue"]},
    "Description": "A dress.", "BulletPoints": ["Soft", "Stretchy"], "Reviews": [],
    "Attributes": ["slim fit"], "category": "fashion", "query": "dresses", "product_category": "A › B",
}


def test_search_page_text() -> None:
    page = P.search_page("s1", "i need a dress")
    assert page.text() == "WebShop [SEP] Instruction: [SEP] i need a dress [SEP] Search"
    assert page.clickables() == ["search"] and page.has_search_bar


def test_results_page_text_and_clickables() -> None:
    products = [PRODUCT, {**PRODUCT, "asin": "B000000002", "Title": "Other", "Price": "$5.0"}]
    page = P.results_page("s1", "i need a dress", ["red", "dress"], 2, 12, products, visited={"B000000002"})
    assert page.text() == (
        "Instruction: [SEP] i need a dress [SEP] Back to Search [SEP] Page 2 (Total results: 12) [SEP] < Prev "
        "[SEP] Next > [SEP] B000000001 [SEP] Sexy Club Dress [SEP] $19.99 to $27.99 [SEP] B000000002 [SEP] Other [SEP] $5.0"
    )
    assert page.clickables() == ["back to search", "< prev", "next >", "b000000001", "b000000002"]
    assert not page.has_search_bar
    rich = page.text_rich()
    assert "[button] B000000001 [button_]\n" in rich
    assert "\n\n[clicked button] B000000002 [clicked button_]\n" in rich
    assert "< Prev" not in P.results_page("s1", "x", ["a"], 1, 3, [], set()).text()


def test_item_page_text_rich_with_clicked_option() -> None:
    page = P.item_page("s1", "i need a dress", PRODUCT, ["dress"], 1, {"size": "small"})
    assert page.text() == (
        "Instruction: [SEP] i need a dress [SEP] Back to Search [SEP] < Prev [SEP] size [SEP] x-small [SEP] small "
        "[SEP] color [SEP] black [SEP] light blue [SEP] Sexy Club Dress [SEP] Price: $19.99 to $27.99 [SEP] "
        "Rating: N.A. [SEP] Description [SEP] Features [SEP] Reviews [SEP] Buy Now"
    )
    assert page.text_rich() == (
        "You have clicked small.\nInstruction:\ni need a dress\n[button] Back to Search [button_]\n"
        "[button] < Prev [button_]\nsize\n  [button] x-small [button_]\n  [clicked button] small [clicked button_]\n"
        "color\n  [button] black [button_]\n  [button] light blue [button_]\nSexy Club Dress\n"
        "Price: $19.99 to $27.99\nRating: N.A.\n[button] Description [button_]\n[button] Features [button_]\n"
        "[button] Reviews [button_]\n[button] Buy Now [button_]\n"
    )
    assert page.clickables() == [
        "back to search", "< prev", "description", "features", "reviews", "buy now",
        "x-small", "small", "black", "light blue",
    ]


def test_clickables_collapse_like_upstream() -> None:
    product = {**PRODUCT, "options": {"size": ["reviews", "m"], "fit": ["m"]}}
    cmap = P.item_page("s1", "x", product, ["a"], 1, {}).clickable_map()
    assert list(cmap).count("reviews") == 1 and cmap["reviews"].kind == "option"
    assert cmap["m"].group == "fit"  # the last radio wins


def test_sub_pages() -> None:
    feats = P.sub_page("s1", "x", PRODUCT, ["a"], 1, "Features", {})
    assert feats.text() == "Instruction: [SEP] x [SEP] Back to Search [SEP] < Prev [SEP] Soft [SEP] Stretchy"
    assert P.sub_page("s1", "x", PRODUCT, ["a"], 1, "Reviews", {}).clickables() == ["back to search", "< prev"]
    attrs = P.sub_page("s1", "x", PRODUCT, ["a"], 1, "Attributes", {}).text()
    assert attrs.endswith("slim fit [SEP] fashion [SEP] dresses [SEP] A › B")


def test_done_page_hides_target() -> None:
    page = P.done_page("abc", "B000000001", {"size": "small"}, 0.75, {"r_type": 1.0})
    text = page.text()
    assert text.startswith("Thank you for shopping with us! [SEP] Your code: [SEP] A9993E3647")
    assert text.endswith('options [SEP] {"size": "small"} [SEP] Your score (min 0.0, max 1.0) [SEP] 0.75')
    assert "Target" not in text and page.clickables() == [] and page.done and page.reward == 0.75


def test_html_is_escaped_and_offline() -> None:
    evil = {**PRODUCT, "Title": "<script>alert(1)</script>", "options": {"<b>": ['"><img src=x>']}}
    html = P.item_page("s1", "<i>instr</i>", evil, ["<script>"], 1, {}).to_html()
    assert "<script>" not in html and "&lt;script&gt;alert(1)&lt;/script&gt;" in html
    assert "<img" not in html and "<i>" not in html and "<b>" not in html
    assert "http://" not in html and "https://" not in html and "<script" not in html.lower()
    results = P.results_page("s1", "x", ["<script>"], 1, 0, [], set()).to_html()
    assert "Results for: &lt;script&gt;" in results
