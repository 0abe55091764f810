"""Complaints and feedback as cases: ``cases``."""

from __future__ import annotations

from pathlib import Path

from pydantic import field_validator

from gateway.channels.config import Duration, Section


class CasesConfig(Section):
    """Complaints and feedback as cases (``gateway.cases``); off without ``file``."""

    file: Path | None = None  # the workflow file: categories, deadlines, customer texts
    reload_interval: Duration = 2.0
    # How long case records are kept. Nothing expires them: cases have no TTL in storage;
    # this documents the commitment (payment institutions keep complaint records ≥ 3 years).
    retention: Duration = 3 * 365 * 86400.0

    @field_validator("retention")
    @classmethod
    def _three_years(cls, value: float) -> float:
        if value < 3 * 365 * 86400:
            raise ValueError("must be at least 3 years (1095d): complaint records are kept that long")
        return value
