"""Small values every gateway process sees: shared strings with a lifetime
(``<prefix>:shared:<key>``: a provider's access token, a lease on fetching it) and the
cluster-wide counters of ``stats()`` (``counters.lua``)."""

from __future__ import annotations

from gateway.storage.connection import Connection


class SharedValues(Connection):
    async def shared_get(self, key: str) -> str | None:
        async with self._guard():
            value = await self._redis.get(self.k("shared", key))
        return str(value) if value is not None else None

    async def shared_get_many(self, keys: list[str]) -> list[str | None]:
        if not keys:
            return []
        async with self._guard():
            values = await self._redis.mget([self.k("shared", key) for key in keys])
        return [str(v) if v is not None else None for v in values]

    async def shared_set(self, key: str, value: str, *, ttl_ms: int) -> None:
        async with self._guard():
            await self._redis.set(self.k("shared", key), value, px=max(1, ttl_ms))

    async def shared_set_if_absent(self, key: str, value: str, *, ttl_ms: int) -> bool:
        async with self._guard():
            return bool(await self._redis.set(self.k("shared", key), value, px=max(1, ttl_ms), nx=True))

    async def shared_delete_if(self, key: str, value: str) -> bool:
        return bool(await self._run("shared_delete_if", key, value))

    async def add_counts(self, counts: dict[str, int], *, once: str = "", once_ttl_ms: int = 0) -> bool:
        pairs = [str(v) for name, by in counts.items() for v in (name, int(by))]
        return bool(await self._run("counters", once, str(max(1, once_ttl_ms)), *pairs))
