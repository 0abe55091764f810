"""Making conversations stored before search existed findable (``gateway search reindex``).

Intake indexes each message as it is written; a conversation stored by an older version
has nothing in the term index. This walks every conversation, newest first, and writes the
terms intake would have written — its messages (customers' and agents'), attachment
names, subjects, the contact's name and identities, its case number — and the preview
lists show. Writing a term again changes nothing, so it may run on a live gateway, be
interrupted and run again.
"""

from __future__ import annotations

from gateway.model import Direction
from gateway.storage.base import ConversationQuery, Store
from gateway.storage.search_terms import identity_terms, text_terms

PAGE = 200


async def reindex(store: Store, *, page: int = PAGE) -> int:
    """Index every stored conversation; the number indexed."""
    done = 0
    cursor: str | None = None
    while True:
        found = await store.find_conversations(ConversationQuery(limit=page, cursor=cursor))
        for conv in found.conversations:
            messages = await store.get_messages(conv.id)
            contact = await store.get_contact(conv.contact_id)
            texts: list[str] = [conv.subject or ""]
            for m in messages:
                texts += [m.text or "", m.subject or "", *(a.name or "" for a in m.attachments)]
                if m.direction is Direction.INBOUND:
                    texts.append(m.sender.name or "")
            case = conv.attributes.get("case")
            if isinstance(case, str):
                texts.append(case)
            terms = text_terms(*texts)
            if contact is not None:
                terms += text_terms(contact.name) + identity_terms([i.key for i in contact.identities])
            await store.index_terms(conv.id, list(dict.fromkeys(terms)))
            done += 1
        if found.next_cursor is None:
            return done
        cursor = found.next_cursor
