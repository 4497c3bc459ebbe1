"""Page views without a server: URL state, canonical text, admissible commands, the oracle's choices."""

from __future__ import annotations

from hgpo_envs.webshop.expert import Oracle
from hgpo_envs.webshop.page import PageView, admissible_commands, canonical_text, page_state_key, parse_url


def test_parse_url_reads_upstream_segments():
    item = "/item_page/s1/B0868KF3ZB/%5B%27teen%27%2C%20%27girl%27%5D/1/%7B%27size%27:%20%278%27%7D"
    assert parse_url(item) == {
        "kind": "item", "session_id": "s1", "asin": "B0868KF3ZB", "keywords": ["teen", "girl"],
        "page_number": 1, "sub_page": None, "options": {"size": "8"},
    }
    results = parse_url("http://127.0.0.1:3000/search_results/s1/%5B%27red%27%2C%20%22men%27s%22%5D/3")
    assert (results["kind"], results["keywords"], results["page_number"]) == ("results", ["red", "men's"], 3)
    assert parse_url("/search_results/s1/nightstand/2")["keywords"] == ["nightstand"]
    sub = parse_url('/item_sub_page/s1/B01/%5B%27a%27%5D/2/Features/{"color": "red"}')
    assert (sub["kind"], sub["sub_page"], sub["options"]) == ("item_sub", "Features", {"color": "red"})
    assert parse_url("/done/s1/B01/%7B%7D")["kind"] == "done"
    assert parse_url("/abc")["kind"] == "search" and parse_url("/abc")["session_id"] == "abc"


def view(kind, text, clickables=(), **kw):
    return PageView(kind=kind, url=kw.pop("url", "/x"), text=text, text_rich=kw.pop("text_rich", text),
                    clickables=list(clickables), has_search_bar=kind == "search", **kw)


def test_done_page_code_is_blanked_in_observation_and_key():
    a = view("done", "Thank you for shopping with us! [SEP] Your code: [SEP] 0CF885C166 [SEP] asin", done=True)
    b = view("done", "Thank you for shopping with us! [SEP] Your code: [SEP] 4BF754A7E6 [SEP] asin", done=True)
    assert a.observation("text") == "Thank you for shopping with us! [SEP] Your code: [SEP] None [SEP] asin"
    assert page_state_key(a, "text") == page_state_key(b, "text")
    assert canonical_text(a, "text") == a.observation("text")
    assert admissible_commands(a, "x") == []


def test_admissible_commands_and_oracle_on_results():
    goal = {"asin": "B2", "name": "Red Cotton Shirt", "instruction_text": "a red shirt",
            "goal_options": {"size": "m"}, "price_upper": 30.0}
    text = ("Instruction: [SEP] a red shirt [SEP] Back to Search [SEP] Page 1 (Total results: 12) [SEP] Next > "
            "[SEP] B1 [SEP] Blue Wool Hat [SEP] $5.0 [SEP] B3 [SEP] Red Cotton Shirt Deluxe [SEP] $50.0")
    page1 = view("results", text, ["back to search", "next >", "b1", "b3"],
                 url="/search_results/s/%5B%27a%27%2C%20%27red%27%2C%20%27shirt%27%5D/1",
                 keywords=["a", "red", "shirt"], page_number=1)
    assert admissible_commands(page1, "a red shirt") == ["click[back to search]", "click[next >]", "click[b1]", "click[b3]"]
    oracle = Oracle(goal)
    assert oracle.next_action(view("search", "WebShop [SEP] a red shirt", ["search"])) == "search[a red shirt]"
    assert oracle.next_action(page1) == "click[next >]"  # the target may be on page 2
    page2 = view("results", "Page 2 (Total results: 12) [SEP] B4 [SEP] Green Sock [SEP] $1.0",
                 ["back to search", "< prev", "next >", "b4"], keywords=["a", "red", "shirt"], page_number=2)
    # every page seen, no target: back to page 1 for the best title match
    assert oracle.next_action(page2) == "click[< prev]"
    assert oracle.next_action(page1) == "click[b3]"
    item = view("item", "...", ["back to search", "< prev", "s", "m", "buy now"], asin="B3")
    assert oracle.next_action(item) == "click[m]"
    chosen = view("item", "...", ["back to search", "< prev", "s", "m", "buy now"], asin="B3", options={"size": "m"})
    assert oracle.next_action(chosen) == "click[buy now]"
    other = view("item", "...", ["back to search", "< prev", "buy now"], asin="B1")
    assert oracle.next_action(other) == "click[< prev]"
    elsewhere = view("results", "Page 1 (Total results: 3)", ["back to search", "next >"], keywords=["blue"], page_number=1)
    assert oracle.next_action(elsewhere) == "click[back to search]"
