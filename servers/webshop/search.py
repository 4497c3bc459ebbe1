"""Lucene-compatible BM25 search over the catalogue, in numpy.

``SearchIndex`` reproduces what upstream WebShop gets from pyserini/Anserini (Lucene 9, BM25 with
k1 = 0.9, b = 0.4) without Java:

- terms come from :func:`servers.webshop.analysis.analyze` (Anserini's default English analyzer);
- a query is a bag of words: each distinct term is one clause boosted by its count in the query;
- per-term scores are computed in float32 the way Lucene's ``BM25Similarity`` does it,
  ``w - w / (1 + tf * normInverse)`` with ``w = count * idf``,
  ``idf = ln(1 + (N - df + 0.5) / (df + 0.5))`` and ``normInverse = 1 / (k1 * (1 - b + b * L / avgdl))``,
  where ``L`` is the document length after Lucene's one-byte norm encoding and ``avgdl`` the exact mean
  length; clause scores are summed in float64 and cast to float32 like Lucene's disjunction scorer;
- the top ``k`` hits are taken by raw score (ties: earlier document first), then, as Anserini does,
  scores are rounded to 4 decimals and equal rounded scores ordered by document id.

The index is a term-major CSR matrix (postings) saved as ``.npy`` files and opened memory-mapped, so a
restarted server maps it instead of re-tokenising the corpus.
"""

from __future__ import annotations

import bisect
import hashlib
import json
import math
import os
import tempfile
from collections.abc import Callable, Iterable, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from .analysis import analyze

__all__ = ["INDEX_FORMAT", "SearchIndex", "corpus_fingerprint", "norm_decode", "norm_encode"]

INDEX_FORMAT = 2
K1 = 0.9
B = 0.4
_NUM_FREE = 24  # lengths below this are stored exactly by Lucene's SmallFloat.intToByte4


def norm_encode(lengths: np.ndarray) -> np.ndarray:
    """Lucene's ``SmallFloat.intToByte4`` for an int array of document lengths; returns uint8 codes."""
    lengths = np.asarray(lengths, dtype=np.int64)
    out = lengths.copy()
    big = lengths >= _NUM_FREE
    m = lengths[big] - _NUM_FREE
    # frexp's exponent of a positive integer is its bit length
    nbits = np.frexp(m.astype(np.float64))[1].astype(np.int64)
    sub = nbits < 4
    shift = np.maximum(nbits - 4, 0)
    enc = np.where(sub, m, ((m >> shift) & 0x07) | ((shift + 1) << 3))
    out[big] = _NUM_FREE + enc
    return out.astype(np.uint8)


def norm_decode(codes: np.ndarray) -> np.ndarray:
    """Lucene's ``SmallFloat.byte4ToInt``: uint8 codes -> the (lossy) lengths they stand for."""
    codes = np.asarray(codes, dtype=np.int64)
    i = codes - _NUM_FREE
    bits = i & 0x07
    shift = (i >> 3) - 1
    dec = np.where(shift == -1, bits, (bits | 0x08) << np.maximum(shift, 0))
    return np.where(codes < _NUM_FREE, codes, _NUM_FREE + dec)


def corpus_fingerprint(ids: Sequence[str], contents: Sequence[str]) -> str:
    """SHA-256 over the (id, contents) pairs, used to tell whether a saved index fits a catalogue."""
    h = hashlib.sha256()
    for i, c in zip(ids, contents, strict=True):
        h.update(i.encode("utf-8", "surrogatepass"))
        h.update(b"\x00")
        h.update(c.encode("utf-8", "surrogatepass"))
        h.update(b"\x01")
    return h.hexdigest()


class _Terms:
    """Sorted vocabulary stored as one UTF-8 blob plus offsets; looked up by binary search."""

    def __init__(self, blob: np.ndarray, offsets: np.ndarray) -> None:
        self._blob = blob
        self._offsets = offsets

    def __len__(self) -> int:
        return len(self._offsets) - 1

    def __getitem__(self, i: int) -> str:
        a, b = int(self._offsets[i]), int(self._offsets[i + 1])
        return bytes(self._blob[a:b]).decode("utf-8", "surrogatepass")

    def index(self, term: str) -> int:
        """Term id, or -1 when the term is not in the vocabulary."""
        i = bisect.bisect_left(self, term)
        return i if i < len(self) and self[i] == term else -1


class SearchIndex:
    """BM25 index over documents ``0..N-1``; ``search`` returns ``(doc_index, score)`` lists.

    Arrays (all may be memory-mapped): ``indptr`` int64 (V+1), ``postings`` int32 (nnz, document
    indices, ascending within a term), ``tfs`` float32 (nnz), ``norms`` uint8 (N).
    """

    def __init__(
        self,
        doc_ids: Sequence[str],
        terms: _Terms,
        indptr: np.ndarray,
        postings: np.ndarray,
        tfs: np.ndarray,
        norms: np.ndarray,
        total_length: int,
        fingerprint: str = "",
        k1: float = K1,
        b: float = B,
        docid_rank: np.ndarray | None = None,
        tfnorm: np.ndarray | None = None,
    ) -> None:
        self.doc_ids = list(doc_ids)
        self.terms = terms
        self.indptr = indptr
        self.postings = postings
        self.tfs = tfs
        self.norms = norms
        self.total_length = int(total_length)
        self.fingerprint = fingerprint
        self.k1 = k1
        self.b = b
        n = len(self.doc_ids)
        self.num_docs = n
        self.prune_min_docs = 65_536  # below this a dense pass is cheaper than MaxScore pruning
        k1f, bf = np.float32(k1), np.float32(b)
        avgdl = np.float32(self.total_length / n) if n else np.float32(1.0)
        table = norm_decode(np.arange(256)).astype(np.float32)
        one = np.float32(1.0)
        # same float32 operation order as Lucene's BM25Similarity cache
        self._norm_cache = (one / (k1f * ((one - bf) + bf * table / avgdl))).astype(np.float32)
        # docid string order, for Anserini's tie rule on rounded scores
        if docid_rank is None:
            docid_rank = np.empty(n, dtype=np.int64)
            docid_rank[np.argsort(np.array(self.doc_ids, dtype=object), kind="stable")] = np.arange(n)
        self._docid_rank = docid_rank
        if tfnorm is None:
            # per posting, Lucene's float32 ``freq * normInverse`` (fixed once avgdl is known)
            tfnorm = (np.asarray(tfs, dtype=np.float32) * self._norm_cache[np.asarray(norms)[np.asarray(postings)]]).astype(
                np.float32
            )
        self.tfnorm = tfnorm
        # per term, the largest tfnorm of its postings: bounds the term's contribution (MaxScore)
        if len(indptr) > 1 and len(tfnorm):
            self.term_max = np.maximum.reduceat(np.asarray(tfnorm), np.asarray(indptr[:-1]))
        else:
            self.term_max = np.zeros(max(len(indptr) - 1, 0), dtype=np.float32)

    def _score(self, counts: dict[int, int], k: int) -> tuple[np.ndarray, np.ndarray]:
        """Candidate documents and their float64 BM25 sums (a superset of the true top ``k``).

        Terms are summed rarest first. Small queries are accumulated sparsely; large ones first try
        MaxScore pruning (as Lucene does): once the ``k``-th best partial score of the rare terms
        exceeds the largest possible contribution of the remaining common terms, documents seen only
        in those can no longer enter the top ``k``, so the remaining lists are only probed for the
        surviving candidates. Scores are identical with and without pruning.
        """
        n = self.num_docs
        one = np.float32(1.0)
        terms = []
        for tid, c in counts.items():
            lo, hi = int(self.indptr[tid]), int(self.indptr[tid + 1])
            df = hi - lo
            w = np.float32(c) * np.float32(math.log(1.0 + (n - df + 0.5) / (df + 0.5)))
            ub = float(w - w / (one + self.term_max[tid]))  # the contribution is monotone in tfnorm
            terms.append((df, lo, hi, w, ub))
        terms.sort(key=lambda t: t[0])

        def contributions(lo: int, hi: int, w: np.float32) -> np.ndarray:
            # Lucene's float32 arithmetic: weight - weight / (1 + freq * normInverse)
            return w - w / (one + self.tfnorm[lo:hi])

        def accumulate(parts: list[tuple[int, int, np.float32]]) -> tuple[np.ndarray, np.ndarray]:
            docs = np.concatenate([self.postings[lo:hi] for lo, hi, _ in parts])
            scores = np.concatenate([contributions(lo, hi, w) for lo, hi, w in parts]).astype(np.float64)
            # each posting list is sorted: a stable (run-merging) sort groups the documents and keeps
            # the term order inside a group, so the sums add terms in the same order as bincount
            order = np.argsort(docs, kind="stable")
            docs, scores = docs[order], scores[order]
            starts = np.flatnonzero(np.concatenate(([True], docs[1:] != docs[:-1])))
            return docs[starts].astype(np.int64), np.add.reduceat(scores, starts)

        total = sum(t[0] for t in terms)
        if len(terms) == 1:
            _, lo, hi, w, _ = terms[0]
            return np.asarray(self.postings[lo:hi], dtype=np.int64), contributions(lo, hi, w).astype(np.float64)
        if total * 16 < n:
            return accumulate([(lo, hi, w) for _, lo, hi, w, _ in terms])
        if n < self.prune_min_docs:
            return self._dense(terms, k)
        # MaxScore: grow the rare-term prefix while it stays cheap, and stop once the rest cannot matter
        budget = max(n // 4, 4 * k)
        seen = 0
        for j in range(1, len(terms)):
            seen += terms[j - 1][0]
            if seen > budget:
                break
            rest_ub = sum(t[4] for t in terms[j:]) * (1 + 1e-9)
            if sum(t[4] for t in terms[:j]) <= rest_ub:
                continue  # the k-th partial score is at most the prefix bound: no pruning yet
            cand, raw = accumulate([(lo, hi, w) for _, lo, hi, w, _ in terms[:j]])
            if len(cand) < k:
                continue
            theta = np.partition(raw, len(raw) - k)[len(raw) - k]
            if rest_ub >= theta:
                continue
            for jj in range(j, len(terms)):
                # drop candidates that cannot reach the k-th best even with every remaining term
                keep = raw + rest_ub >= theta
                cand, raw = cand[keep], raw[keep]
                _, lo, hi, w, _ = terms[jj]
                docs = self.postings[lo:hi]
                pos = np.minimum(np.searchsorted(docs, cand), hi - lo - 1)
                hit = np.flatnonzero(docs[pos] == cand)
                raw[hit] += (w - w / (one + self.tfnorm[lo + pos[hit]])).astype(np.float64)
                rest_ub = sum(t[4] for t in terms[jj + 1 :]) * (1 + 1e-9)
                if len(raw) > k:
                    theta = max(theta, np.partition(raw, len(raw) - k)[len(raw) - k])
            return cand, raw
        return self._dense(terms, k)

    def _dense(self, terms: list[tuple[int, int, int, np.float32, float]], k: int) -> tuple[np.ndarray, np.ndarray]:
        """One pass over all postings of ``terms`` (df, lo, hi, weight, bound) into a dense array."""
        n = self.num_docs
        one = np.float32(1.0)
        docs = np.concatenate([self.postings[lo:hi] for _, lo, hi, _, _ in terms])
        scores = np.concatenate([w - w / (one + self.tfnorm[lo:hi]) for _, lo, hi, w, _ in terms])
        acc = np.bincount(docs, weights=scores, minlength=n)
        if n > 4 * k:
            kth = np.partition(acc, n - k)[n - k]
            cand = np.flatnonzero(acc >= kth) if kth > 0 else np.flatnonzero(acc)
        else:
            cand = np.flatnonzero(acc)
        return cand, acc[cand]

    # ------------------------------------------------------------------ building
    @classmethod
    def build(
        cls,
        doc_ids: Sequence[str],
        contents: Iterable[str],
        k1: float = K1,
        b: float = B,
        workers: int = 1,
        chunk_size: int = 20_000,
    ) -> SearchIndex:
        """Analyse ``contents`` (one string per document, in ``doc_ids`` order) and index it.

        Documents are analysed in chunks of ``chunk_size``, in ``workers`` processes when > 1.
        """
        doc_ids = list(doc_ids)
        vocab, rows, cols, tf_parts, lengths, fp = _analyze_corpus(doc_ids, contents, workers, chunk_size)
        sorted_terms = sorted(vocab)
        remap = np.empty(len(vocab), dtype=np.int32)
        remap[np.fromiter((vocab[t] for t in sorted_terms), dtype=np.int64, count=len(vocab))] = np.arange(
            len(vocab), dtype=np.int32
        )
        row = remap[np.concatenate(rows)] if rows else np.zeros(0, dtype=np.int32)
        col = np.concatenate(cols) if cols else np.zeros(0, dtype=np.int32)
        tfs = np.concatenate(tf_parts) if tf_parts else np.zeros(0, dtype=np.int32)
        # chunks arrive in document order and are sorted by (term, doc) inside: a stable sort on the
        # term keeps documents ascending within each posting list
        order = np.argsort(row, kind="stable")
        row, col, tfs = row[order], col[order], tfs[order]
        indptr = np.zeros(len(vocab) + 1, dtype=np.int64)
        np.cumsum(np.bincount(row, minlength=len(vocab)), out=indptr[1:])
        encoded = [t.encode("utf-8", "surrogatepass") for t in sorted_terms]
        offsets = np.zeros(len(encoded) + 1, dtype=np.int64)
        np.cumsum([len(e) for e in encoded], out=offsets[1:])
        blob = np.frombuffer(b"".join(encoded), dtype=np.uint8)
        return cls(
            doc_ids,
            _Terms(blob, offsets),
            indptr,
            col.astype(np.int32),
            tfs.astype(np.float32),
            norm_encode(lengths),
            int(lengths.sum()),
            fp.hexdigest(),
            k1,
            b,
        )

    # ------------------------------------------------------------------ persistence
    def save(self, directory: str | os.PathLike[str]) -> Path:
        """Write the index to ``directory`` (created; replaced atomically file by file)."""
        path = Path(directory)
        path.mkdir(parents=True, exist_ok=True)
        arrays = {
            "indptr": self.indptr,
            "postings": self.postings,
            "tfs": self.tfs,
            "norms": self.norms,
            "term_blob": self.terms._blob,
            "term_offsets": self.terms._offsets,
            "docid_rank": self._docid_rank,
            "tfnorm": self.tfnorm,
        }
        for name, arr in arrays.items():
            _atomic_write(path / f"{name}.npy", lambda f, a=arr: np.save(f, np.asarray(a)))
        meta = {
            "format": INDEX_FORMAT,
            "k1": self.k1,
            "b": self.b,
            "num_docs": self.num_docs,
            "total_length": self.total_length,
            "fingerprint": self.fingerprint,
        }
        _atomic_write(path / "doc_ids.json", lambda f: f.write(json.dumps(self.doc_ids).encode()))
        # meta last: its presence marks a complete index
        _atomic_write(path / "meta.json", lambda f: f.write(json.dumps(meta).encode()))
        return path

    @classmethod
    def load(cls, directory: str | os.PathLike[str], mmap: bool = True) -> SearchIndex:
        """Open a saved index; arrays are memory-mapped unless ``mmap`` is false."""
        path = Path(directory)
        meta = json.loads((path / "meta.json").read_text())
        if meta.get("format") not in (1, INDEX_FORMAT):  # format 1 lacks docid_rank/tfnorm (recomputed)
            raise ValueError(f"index at {path} has format {meta.get('format')}, expected {INDEX_FORMAT}")
        mode = "r" if mmap else None

        def arr(name: str) -> np.ndarray:
            return np.load(path / f"{name}.npy", mmap_mode=mode)

        doc_ids = json.loads((path / "doc_ids.json").read_text())
        return cls(
            doc_ids,
            _Terms(arr("term_blob"), arr("term_offsets")),
            arr("indptr"),
            arr("postings"),
            arr("tfs"),
            arr("norms"),
            meta["total_length"],
            meta["fingerprint"],
            meta["k1"],
            meta["b"],
            arr("docid_rank") if (path / "docid_rank.npy").exists() else None,
            arr("tfnorm") if (path / "tfnorm.npy").exists() else None,
        )

    @classmethod
    def load_or_build(
        cls,
        directory: str | os.PathLike[str] | None,
        doc_ids: Sequence[str],
        contents: Callable[[], Iterable[str]],
        fingerprint: str,
        workers: int = 1,
    ) -> SearchIndex:
        """The index saved in ``directory`` if its fingerprint matches, else a new one (saved there).

        ``contents`` is called only when building; ``fingerprint`` identifies the corpus (e.g.
        :func:`corpus_fingerprint`, or a file's size and mtime for large catalogues).
        """
        path = Path(directory) if directory is not None else None
        if path is not None and (path / "meta.json").exists():
            try:
                idx = cls.load(path)
                if idx.fingerprint == fingerprint and idx.num_docs == len(doc_ids):
                    return idx
            except (ValueError, OSError, KeyError, json.JSONDecodeError):
                pass  # stale or damaged: rebuild below
        idx = cls.build(doc_ids, contents(), workers=workers)
        idx.fingerprint = fingerprint
        if path is not None:
            try:
                idx.save(path)
            except OSError:
                pass  # read-only location: serve from memory
        return idx

    # ------------------------------------------------------------------ querying
    def search(self, query: str, k: int = 50) -> list[tuple[int, float]]:
        """Top ``k`` documents for ``query``: ``[(doc_index, score rounded to 4 decimals), ...]``."""
        terms = analyze(query)
        if not terms or self.num_docs == 0:
            return []
        counts: dict[int, int] = {}
        for t in terms:
            tid = self.terms.index(t)
            if tid >= 0:
                counts[tid] = counts.get(tid, 0) + 1
        if not counts:
            return []
        cand, raw = self._score(counts, k)
        raw32 = raw.astype(np.float32)
        if len(cand) > k:
            kth = np.partition(raw32, len(raw32) - k)[len(raw32) - k]
            keep = raw32 >= kth
            cand, raw32 = cand[keep], raw32[keep]
        # Lucene's collector: score descending, then lower document number
        order = np.lexsort((cand, -raw32))[:k]
        cand, raw32 = cand[order], raw32[order]
        rounded = np.round(raw32.astype(np.float64), 4)
        # Anserini: equal rounded scores ordered by docid string
        order = np.lexsort((self._docid_rank[cand], -rounded))
        return [(int(cand[i]), float(rounded[i])) for i in order]


def _analyze_chunk(texts: list[str]) -> tuple[list[str], np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Analyse a chunk: (local vocabulary, term ids, doc ids, term frequencies, doc lengths).

    The (term, doc) pairs come back sorted by term, then document.
    """
    local: dict[str, int] = {}
    ids: list[int] = []
    lengths = np.empty(len(texts), dtype=np.int64)
    for d, text in enumerate(texts):
        toks = analyze(text)
        lengths[d] = len(toks)
        ids.extend([local.setdefault(t, len(local)) for t in toks])
    m = max(len(texts), 1)
    key = np.array(ids, dtype=np.int64) * m + np.repeat(np.arange(len(texts), dtype=np.int64), lengths)
    uk, tf = np.unique(key, return_counts=True)
    return list(local), (uk // m).astype(np.int32), (uk % m).astype(np.int32), tf.astype(np.int32), lengths


def _atomic_write(path: Path, writer: Callable[[Any], object]) -> None:
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=path.name, suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as f:
            writer(f)
        os.chmod(tmp, 0o644)  # mkstemp makes 0600; the index is not secret and may be shared
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def _analyze_corpus(
    doc_ids: list[str], contents: Iterable[str], workers: int, chunk_size: int
) -> tuple[dict[str, int], list[np.ndarray], list[np.ndarray], list[np.ndarray], np.ndarray, Any]:
    """Analyse every document in chunks (``workers`` processes when > 1): the vocabulary (term ->
    first-seen id), per-chunk postings (term ids, doc ids, term frequencies), document lengths and the
    corpus fingerprint."""
    n = len(doc_ids)
    fp = hashlib.sha256()
    vocab: dict[str, int] = {}
    rows: list[np.ndarray] = []
    cols: list[np.ndarray] = []
    tf_parts: list[np.ndarray] = []
    lengths = np.zeros(n, dtype=np.int64)
    offset = 0

    def absorb(result: tuple[list[str], np.ndarray, np.ndarray, np.ndarray, np.ndarray]) -> None:
        nonlocal offset
        local_terms, r, c, tf, lens = result
        gid = np.fromiter((vocab.setdefault(t, len(vocab)) for t in local_terms), dtype=np.int32, count=len(local_terms))
        rows.append(gid[r])
        cols.append(c + np.int32(offset))
        tf_parts.append(tf)
        lengths[offset : offset + len(lens)] = lens
        offset += len(lens)

    def chunks() -> Iterable[list[str]]:
        buf: list[str] = []
        for i, text in enumerate(contents):
            fp.update(doc_ids[i].encode("utf-8", "surrogatepass") + b"\x00" + text.encode("utf-8", "surrogatepass") + b"\x01")
            buf.append(text)
            if len(buf) == chunk_size:
                yield buf
                buf = []
        if buf:
            yield buf

    if workers > 1:
        import multiprocessing as mp
        from concurrent.futures import ProcessPoolExecutor

        with ProcessPoolExecutor(max_workers=workers, mp_context=mp.get_context("fork")) as pool:
            pending = []
            for chunk in chunks():
                pending.append(pool.submit(_analyze_chunk, chunk))
                if len(pending) >= 2 * workers:
                    absorb(pending.pop(0).result())
            for fut in pending:
                absorb(fut.result())
    else:
        for chunk in chunks():
            absorb(_analyze_chunk(chunk))
    if offset != n:
        raise ValueError(f"got {offset} documents for {n} ids")
    return vocab, rows, cols, tf_parts, lengths, fp
