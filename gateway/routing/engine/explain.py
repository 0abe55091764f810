"""The wording of routing explanations: durations, quoted lists and target chains."""

from __future__ import annotations

from collections.abc import Iterable

from gateway.model import RouteTarget
from gateway.routing.rules import Target

SHOWN_LIMIT = 6  # a longer list of keywords or values is cut to this many, with the total


def format_duration(seconds: float) -> str:
    """90 → ``1m30s``; 7200 → ``2h``: durations the way the rules file writes them."""
    rest = round(seconds)
    if rest <= 0:
        return f"{seconds:g}s"
    parts = []
    for unit, size in (("d", 86400), ("h", 3600), ("m", 60), ("s", 1)):
        if rest >= size:
            parts.append(f"{rest // size}{unit}")
            rest %= size
    return "".join(parts)


def quote(items: Iterable[str], joiner: str = "or") -> str:
    """``'a', 'b' or 'c'``; a long list is cut after ``SHOWN_LIMIT`` items."""
    items = list(items)
    shown = [f"'{item}'" for item in items[:SHOWN_LIMIT]]
    if len(items) > SHOWN_LIMIT:
        return ", ".join(shown) + f" … ({len(items)} in all)"
    if len(shown) <= 1:
        return "".join(shown)
    return ", ".join(shown[:-1]) + f" {joiner} {shown[-1]}"


def none_of(shown: Iterable[str], where: str) -> str:
    """``'a' is not in the text`` or ``none of 'a', 'b' in the text``."""
    items = list(shown)
    if len(items) == 1:
        return f"'{items[0]}' is not in {where}"
    quoted = [f"'{item}'" for item in items[:SHOWN_LIMIT]]
    more = f" … ({len(items)} in all)" if len(items) > SHOWN_LIMIT else ""
    return f"none of {', '.join(quoted)}{more} in {where}"


def describe_targets(targets: Iterable[RouteTarget | Target]) -> str:
    """``payments-zh at priority 7; unclaimed after 10m → general at priority 7``."""
    parts = []
    waited = 0.0
    for position, target in enumerate(targets):
        step = f"{target.queue} at priority {target.priority}"
        parts.append(step if position == 0 else f"unclaimed after {format_duration(waited)} → {step}")
        if target.timeout is None:
            break
        waited += target.timeout
    return "; ".join(parts)
