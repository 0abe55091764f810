"""The fixed stages of a case and the moves between them.

``received → investigating → waiting_third_party → resolved → closed``; an agent moves a
case between ``investigating`` and ``waiting_third_party`` with a progress step, only
``resolve`` makes it ``resolved``, a customer's reply within the reopen window brings it
back to ``investigating`` (``reopened``), and a resolved case nobody reopened is
``closed`` when the window ends.
"""

from __future__ import annotations

RECEIVED = "received"
INVESTIGATING = "investigating"
WAITING = "waiting_third_party"
RESOLVED = "resolved"
CLOSED = "closed"

STAGES = (RECEIVED, INVESTIGATING, WAITING, RESOLVED, CLOSED)
OPEN_STAGES = (RECEIVED, INVESTIGATING, WAITING)
DONE_STAGES = (RESOLVED, CLOSED)

# Stages a progress step may move a case to, from each stage.
PROGRESS_MOVES: dict[str, tuple[str, ...]] = {
    RECEIVED: (INVESTIGATING, WAITING),
    INVESTIGATING: (WAITING,),
    WAITING: (INVESTIGATING,),
    RESOLVED: (CLOSED,),
    CLOSED: (),
}


def progress_problem(current: str, wanted: str | None) -> str | None:
    """Why a progress step cannot move a ``current`` case to ``wanted``; None when it can
    (or when it does not change the stage)."""
    if wanted is None or wanted == current:
        return None
    if wanted == RESOLVED:
        return "resolve a case with POST /api/v1/cases/{number}/resolve, which tells the customer the resolution"
    if wanted == RECEIVED:
        return "a case cannot go back to received"
    if wanted not in PROGRESS_MOVES.get(current, ()):
        return f"a {current} case cannot move to {wanted}"
    return None
