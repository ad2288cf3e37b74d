"""Keyword side of hybrid search: Portuguese-aware tokens, BM25, reciprocal-rank fusion."""

from __future__ import annotations

import math
import re
import unicodedata
from collections import Counter
from collections.abc import Iterable, Mapping, Sequence

__all__ = ["Bm25", "keywords", "reciprocal_rank_fusion"]

# Words that carry no topic in a customer's question (accents already stripped).
_STOPWORDS = frozenset(
    """a ao aos as ate com como da das de do dos e ela ele eles em entao essa esse esta este
    eu foi ha isso isto ja la lhe mais mas me meu minha na nas nao nem no nos nossa o os ou
    para pela pelo pode por pra qual quais quando que quem se sem ser seu sua tem tenho ter
    um uma umas uns voce voces vcs vc ai aqui bom boa dia oi ola queria quero gostaria saber
    favor obrigado obrigada tudo bem sobre sim coisa duvida pergunta""".split()
)


def _fold(text: str) -> str:
    decomposed = unicodedata.normalize("NFKD", text.lower())
    return "".join(c for c in decomposed if not unicodedata.combining(c))


def _stem(word: str) -> str:
    # Just enough to meet plurals and common inflections halfway ("lojas" ~ "loja").
    for suffix in ("oes", "aes", "ais", "eis", "s"):
        if len(word) > len(suffix) + 3 and word.endswith(suffix):
            return word[: -len(suffix)]
    return word


def keywords(text: str) -> list[str]:
    """The topic words of a text, folded and lightly stemmed, in order, with repeats."""
    words = re.findall(r"[a-z0-9]+", _fold(text))
    return [_stem(w) for w in words if w not in _STOPWORDS and len(w) > 1]


class Bm25:
    """Okapi BM25 over a small corpus held in memory."""

    def __init__(self, documents: Mapping[str, str], *, k1: float = 1.2, b: float = 0.75) -> None:
        self._k1, self._b = k1, b
        self._terms = {doc_id: Counter(keywords(text)) for doc_id, text in documents.items()}
        self._lengths = {doc_id: sum(c.values()) for doc_id, c in self._terms.items()}
        count = max(len(self._terms), 1)
        self._average = sum(self._lengths.values()) / count or 1.0
        frequency: Counter[str] = Counter()
        for counts in self._terms.values():
            frequency.update(counts.keys())
        self._idf = {
            term: math.log(1 + (count - n + 0.5) / (n + 0.5)) for term, n in frequency.items()
        }

    def scores(self, query: str) -> dict[str, float]:
        """Each document's score for the query; documents sharing no term are left out."""
        terms = set(keywords(query))
        result: dict[str, float] = {}
        for doc_id, counts in self._terms.items():
            score = 0.0
            for term in terms & counts.keys():
                tf = counts[term]
                norm = self._k1 * (1 - self._b + self._b * self._lengths[doc_id] / self._average)
                score += self._idf[term] * tf * (self._k1 + 1) / (tf + norm)
            if score > 0:
                result[doc_id] = score
        return result


def reciprocal_rank_fusion(
    rankings: Iterable[Sequence[str]], *, k: int = 60
) -> list[tuple[str, float]]:
    """Fuse ranked id lists: each id scores the sum of 1 / (k + rank) over the lists."""
    fused: dict[str, float] = {}
    for ranking in rankings:
        for rank, doc_id in enumerate(ranking, start=1):
            fused[doc_id] = fused.get(doc_id, 0.0) + 1.0 / (k + rank)
    return sorted(fused.items(), key=lambda item: item[1], reverse=True)
