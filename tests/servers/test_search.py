"""Lucene-compatible BM25: norms, a hand-computed score, tie rules, persistence, and parity with Lucene."""

from __future__ import annotations

import json
import math
import time

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from servers.webshop.search import SearchIndex, norm_decode, norm_encode

from .conftest import DERIVED, need_data


def _int_to_byte4(n: int) -> int:
    """Lucene SmallFloat.intToByte4, written independently of the vectorised version."""
    if n < 24:
        return n
    m = n - 24
    if m.bit_length() < 4:
        return 24 + m
    shift = m.bit_length() - 4
    return 24 + (((m >> shift) & 0x07) | ((shift + 1) << 3))


def test_norm_encoding_matches_reference() -> None:
    lengths = np.concatenate([np.arange(0, 5000), np.array([10**5, 10**6, 2**31 - 1])])
    expected = np.array([_int_to_byte4(int(n)) for n in lengths])
    assert np.array_equal(norm_encode(lengths), expected)
    decoded = norm_decode(norm_encode(lengths))
    assert np.all(decoded <= lengths)
    assert np.array_equal(decoded[:24], lengths[:24])
    assert norm_decode(norm_encode(np.array([100])))[0] == 96


def test_hand_computed_score() -> None:
    docs = ["red dress", "blue dress dress", "red shoes for running", "green hat"]
    idx = SearchIndex.build(["D1", "D2", "D3", "D4"], docs)
    hits = idx.search("red dress", k=10)
    n, avgdl = 4, (2 + 3 + 3 + 2) / 4  # 'for' is a stop word

    def term(df: int, tf: int, dl: int) -> float:
        idf = math.log(1 + (n - df + 0.5) / (df + 0.5))
        return idf * tf / (tf + 0.9 * (1 - 0.4 + 0.4 * dl / avgdl))

    expected = {
        0: term(2, 1, 2) + term(2, 1, 2),
        1: term(2, 2, 3),
        2: term(2, 1, 3),
    }
    assert [d for d, _ in hits] == [0, 1, 2]
    for d, score in hits:
        assert score == pytest.approx(expected[d], abs=1e-4)


def test_ties_ordered_by_docid_after_rounding() -> None:
    idx = SearchIndex.build(["Z9", "A1", "M5"], ["lamp", "lamp", "lamp"])
    assert [idx.doc_ids[d] for d, _ in idx.search("lamp")] == ["A1", "M5", "Z9"]


def test_query_term_counts_boost() -> None:
    idx = SearchIndex.build(["a", "b"], ["red red red blue", "blue blue blue red"])
    once = dict(idx.search("red blue"))
    twice = dict(idx.search("red red blue"))
    assert twice[0] > once[0]
    assert idx.search("") == [] and idx.search("the of") == [] and idx.search("zzzz") == []


@settings(max_examples=60, deadline=None)
@given(st.lists(st.sampled_from("red blue green dress shoe hat lamp table wood soft".split()), min_size=1, max_size=6))
def test_results_sorted_and_bounded(words: list[str]) -> None:
    docs = [" ".join(words[i % len(words) :] + ["x"] * (i % 5)) for i in range(30)]
    idx = SearchIndex.build([f"D{i:02d}" for i in range(30)], docs)
    hits = idx.search(" ".join(words), k=7)
    assert len(hits) <= 7
    scores = [s for _, s in hits]
    assert scores == sorted(scores, reverse=True)
    assert all(s > 0 for s in scores)


def test_save_load_memory_mapped(tmp_path) -> None:
    docs = [f"product {i} red {'dress' if i % 3 else 'shoe'} size {i % 7}" for i in range(500)]
    ids = [f"P{i:04d}" for i in range(500)]
    idx = SearchIndex.build(ids, docs)
    idx.save(tmp_path / "idx")
    loaded = SearchIndex.load(tmp_path / "idx")
    assert isinstance(loaded.postings, np.memmap)
    for q in ["red dress", "shoe size 3", "product 42"]:
        assert loaded.search(q) == idx.search(q)
    calls = []

    def contents():
        calls.append(1)
        return iter(docs)

    again = SearchIndex.load_or_build(tmp_path / "idx", ids, contents, idx.fingerprint)
    assert calls == [] and again.search("red") == idx.search("red")
    rebuilt = SearchIndex.load_or_build(tmp_path / "idx", ids, contents, "other corpus")
    assert calls == [1] and rebuilt.fingerprint == "other corpus"


def test_parallel_build_equals_serial() -> None:
    docs = [f"item {i} {'blue' if i % 2 else 'green'} cotton shirt {i % 11}" for i in range(3000)]
    ids = [f"S{i:05d}" for i in range(3000)]
    a = SearchIndex.build(ids, docs, chunk_size=700)
    b = SearchIndex.build(ids, docs, chunk_size=700, workers=2)
    assert a.fingerprint == b.fingerprint
    assert np.array_equal(a.postings, b.postings) and np.array_equal(a.tfs, b.tfs)
    assert a.search("blue cotton shirt 7") == b.search("blue cotton shirt 7")


def test_parity_with_lucene_top50(real_catalog, real_index) -> None:
    fixture = DERIVED / "lucene_bm25_top50_1k.json"
    need_data(fixture)
    ref = json.loads(fixture.read_text())
    assert (ref["k1"], ref["b"]) == (0.9, 0.4)
    top1 = ex10 = ex50 = 0
    score_err = 0.0
    latencies = []
    for query, expected in ref["results"].items():
        t = time.perf_counter()
        hits = real_index.search(query, 50)
        latencies.append(time.perf_counter() - t)
        mine = [real_index.doc_ids[d] for d, _ in hits]
        theirs = [d for d, _ in expected]
        top1 += mine[:1] == theirs[:1]
        ex10 += mine[:10] == theirs[:10]
        ex50 += mine == theirs
        if mine[:1] == theirs[:1]:
            score_err = max(score_err, abs(hits[0][1] - expected[0][1]))
    n = len(ref["results"])
    print(
        f"search parity over {n} queries: top-1 {top1 / n:.1%}, exact top-10 {ex10 / n:.1%}, "
        f"exact top-50 {ex50 / n:.1%}, max top-1 score error {score_err:.5f}, "
        f"p50 {np.percentile(latencies, 50) * 1e3:.2f} ms"
    )
    assert top1 >= 0.99 * n
    assert ex10 >= 0.95 * n
    assert score_err <= 1e-4


def _zipf_corpus(n: int, seed: int = 0) -> list[str]:
    rng = np.random.default_rng(seed)
    vocab = [f"w{i}" for i in range(400)]
    p = 1.0 / np.arange(1, 401) ** 1.1
    p /= p.sum()
    return [" ".join(rng.choice(vocab, size=int(rng.integers(3, 40)), p=p)) for _ in range(n)]


@pytest.fixture(scope="module")
def zipf_indexes():
    docs = _zipf_corpus(4000)
    ids = [f"Z{i:05d}" for i in range(4000)]
    dense = SearchIndex.build(ids, docs)
    pruned = SearchIndex.build(ids, docs)
    pruned.prune_min_docs = 0  # force MaxScore on this small corpus
    return dense, pruned


@settings(max_examples=150, deadline=None)
@given(st.lists(st.integers(0, 399), min_size=2, max_size=12), st.sampled_from([1, 10, 50]))
def test_maxscore_pruning_is_exact(zipf_indexes, words: list[int], k: int) -> None:
    dense, pruned = zipf_indexes
    query = " ".join(f"w{i}" for i in words)
    assert pruned.search(query, k) == dense.search(query, k)


def test_maxscore_matches_brute_force(zipf_indexes) -> None:
    dense, pruned = zipf_indexes
    docs = _zipf_corpus(4000)
    lengths = np.array([len(d.split()) for d in docs])
    n, avgdl = len(docs), np.float32(lengths.sum() / len(docs))
    table = norm_decode(norm_encode(lengths)).astype(np.float32)
    df: dict[str, int] = {}
    for d in docs:
        for t in set(d.split()):
            df[t] = df.get(t, 0) + 1
    query = "w0 w3 w3 w17 w120 w2"
    qcount = {t: query.split().count(t) for t in set(query.split())}
    expected = []
    for i, d in enumerate(docs):
        words = d.split()
        score = 0.0
        for t, c in qcount.items():
            tf = words.count(t)
            if tf:
                w = np.float32(c) * np.float32(math.log(1 + (n - df[t] + 0.5) / (df[t] + 0.5)))
                inv = np.float32(1) / (np.float32(0.9) * (np.float32(0.6) + np.float32(0.4) * table[i] / avgdl))
                score += float(w - w / (np.float32(1) + np.float32(tf) * inv))
        if score:
            expected.append((round(float(np.float32(score)), 4), f"Z{i:05d}"))
    expected.sort(key=lambda x: (-x[0], x[1]))
    got = [(s, pruned.doc_ids[d]) for d, s in pruned.search(query, 20)]
    assert got == expected[:20]
