"""Failed-login counters in Redis: lock a username, or a client address, after too many.

Without them 40 wrong passwords followed by the right one were accepted
(issue 13). Each failure increments two counters, one per username (whoever
tries it) and one per client address (whatever usernames it tries); each
counter expires ``window`` seconds after its first failure. While either has
reached its limit, logins for that username or from that address are refused
without checking the password, so the right password does not get through
either. Unknown usernames are counted like known ones, so locking tells
nothing about which accounts exist.
"""
from __future__ import annotations

import dataclasses
import hashlib

import redis

KEY_PREFIX = "flamenco:login-failures"


@dataclasses.dataclass(frozen=True)
class LoginThrottle:
    """Counters on ``cache``; limits and window as in ``flamenco.defaults`` (LOGIN_*)."""

    cache: redis.Redis
    max_per_username: int
    max_per_address: int
    window_seconds: int

    def _keys(self, username: str, address: str) -> tuple[tuple[str, int], tuple[str, int]]:
        # Hashed: usernames are user input of any length and character.
        name = hashlib.sha256(username.strip().lower().encode("utf-8", "replace")).hexdigest()
        return ((f"{KEY_PREFIX}:user:{name}", self.max_per_username),
                (f"{KEY_PREFIX}:addr:{address}", self.max_per_address))

    def seconds_locked(self, username: str, address: str) -> int:
        """0 if a login may be tried, else the seconds until it may."""
        keys = self._keys(username, address)
        pipe = self.cache.pipeline(transaction=False)
        for key, _limit in keys:
            pipe.get(key)
            pipe.ttl(key)
        replies = pipe.execute()
        wait = 0
        for index, (_key, limit) in enumerate(keys):
            count, ttl = replies[2 * index], replies[2 * index + 1]
            if count is not None and int(count) >= limit:
                wait = max(wait, ttl if ttl > 0 else self.window_seconds)
        return wait

    def record_failure(self, username: str, address: str) -> None:
        pipe = self.cache.pipeline(transaction=True)
        for key, _limit in self._keys(username, address):
            pipe.set(key, 0, ex=self.window_seconds, nx=True)
            pipe.incr(key)
        pipe.execute()

    def record_success(self, username: str) -> None:
        """Forget the username's failures (not the address's: one good account must not unlock guessing others)."""
        (user_key, _limit), _address = self._keys(username, "")
        self.cache.delete(user_key)
