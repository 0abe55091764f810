"""Finding conversations: the agent's inbox and search (``search.lua``), and the term
index it reads (``gw:sx:<term>``, a sorted set of conversation ids scored by creation
time, written with each message by ``ingest.lua`` and by ``index_terms.lua``)."""

from __future__ import annotations

import json

from gateway.storage.base import ConversationQuery, Page
from gateway.storage.reads import Reads
from gateway.storage.search_terms import query_terms

# Entries one call looks at before it answers with what it found and a cursor: one
# request never holds Redis for long, however rare the match.
SEARCH_BUDGET = 8_000


def encode_cursor(score: str, member: str) -> str:
    return f"{int(float(score))}.{member}"


def decode_cursor(cursor: str) -> tuple[str, str]:
    """``<score>.<conversation id>``; ValueError for anything else."""
    score, _, member = cursor.partition(".")
    if not member or not (score.isascii() and score.isdigit()) or len(score) > 16 or len(member) > 128:
        raise ValueError("not a cursor")
    return score, member


class Search(Reads):
    async def find_conversations(self, query: ConversationQuery) -> Page:
        terms = query_terms(query.q) if query.q else []
        if query.q and not terms:
            return Page(conversations=[])
        score, member = "", ""
        if query.cursor:
            score, member = decode_cursor(query.cursor)
        elif query.before is not None:
            score = str(query.before - 1)
        status = query.status or ("open" if query.sla else None)  # a reply is due only while open
        source = self.listing_index(
            status=status,
            # The queue index forgets resolved conversations: it holds every match only
            # when the status asked for is not resolved.
            queue=query.queue if status in ("open", "pending") else None,
            contact_id=query.contact_id,
        )
        filters = {
            "status": query.status or "",
            "queue": query.queue or "",
            "channel": query.channel or "",
            "assignee": query.assignee or "",
            "contact_id": query.contact_id or "",
            "sla": query.sla or "",
            "now": str(query.now_ms),
            "soon": str(query.now_ms + query.due_soon_ms),
            "scoped": query.reader is not None,
            "reader": query.reader or "",
            "reader_queues": list(query.reader_queues),
        }
        reply = await self._run(
            "search", str(query.limit), score, member, str(SEARCH_BUDGET), source, json.dumps(filters), *terms
        )
        ids = list(reply[3:])
        found = {c.id: c for c in await self._load_conversations(ids)}
        conversations = [found[i] for i in ids if i in found]
        if not reply[1]:
            return Page(conversations=conversations)
        return Page(
            conversations=conversations,
            next_before=int(float(reply[1])),
            next_cursor=encode_cursor(reply[1], reply[2]),
        )

    async def index_terms(self, conversation_id: str, terms: list[str]) -> None:
        if terms:
            await self._run("index_terms", conversation_id, *terms)
