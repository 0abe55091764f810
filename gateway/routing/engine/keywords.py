"""Every keyword of every rule, one id each, found in a text by one Aho–Corasick automaton.

The automaton runs over the UTF-8 bytes (as Latin-1 text): pyahocorasick finds a node's
child by a linear search, and thousands of Chinese keywords give the root thousands of
children, while bytes give it a few dozen. A UTF-8 keyword can only match at character
boundaries, so the matches are the same.
"""

from __future__ import annotations

from operator import itemgetter
from typing import Any

import ahocorasick

NO_HITS: frozenset[int] = frozenset()
SECOND = itemgetter(1)  # (end, keyword id) → keyword id, in C


def as_latin1(raw: bytes) -> str:
    """UTF-8 bytes as a str of code points 0–255, the alphabet the automaton is built on."""
    return raw.decode("latin-1")


class KeywordTable:
    """The (folded) keywords of a rule set and their ids, shared by every rule that uses one."""

    def __init__(self) -> None:
        self.ids: dict[str, int] = {}

    def __bool__(self) -> bool:
        return bool(self.ids)

    def id_of(self, word: str) -> int:
        return self.ids.setdefault(word, len(self.ids))

    def ids_of(self, words: tuple[str, ...]) -> frozenset[int]:
        return frozenset(self.id_of(word) for word in words)

    def automaton(self) -> Any:
        """The automaton finding every keyword at once; None when there are none."""
        if not self.ids:
            return None
        automaton = ahocorasick.Automaton()
        for word, kid in self.ids.items():
            automaton.add_word(as_latin1(word.encode("utf-8", "surrogatepass")), kid)
        automaton.make_automaton()
        return automaton
