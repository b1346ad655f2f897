"""Which SKU owner holds a SKU: a pure, stable function of (sku, shard count).

Every process on every node must compute the same owner, so the key is a stable
digest of the SKU id (BLAKE2b, 64 bits), never Python's per-process salted ``hash()``.
Jump consistent hash (Lamping & Veach, 2014) maps it to a shard: when the shard count
grows from n to n+1, only about 1/(n+1) of the SKUs move.
"""

from __future__ import annotations

import hashlib

_MASK64 = (1 << 64) - 1
_JUMP_MULTIPLIER = 2862933555777941757


def stable_digest(key: str) -> int:
    """A 64-bit digest of ``key`` that is the same in every process and on every machine."""
    return int.from_bytes(hashlib.blake2b(key.encode("utf-8"), digest_size=8).digest(), "big")


def jump_hash(digest: int, buckets: int) -> int:
    """Jump consistent hash of a 64-bit ``digest`` into ``[0, buckets)``."""
    if buckets < 1:
        raise ValueError(f"buckets must be >= 1, got {buckets}")
    key = digest & _MASK64
    bucket, jump = -1, 0
    while jump < buckets:
        bucket = jump
        key = (key * _JUMP_MULTIPLIER + 1) & _MASK64
        jump = int((bucket + 1) * ((1 << 31) / ((key >> 33) + 1)))
    return bucket


def owner_of(sku: str, shard_count: int) -> int:
    """The index of the SKU owner (0-based, below ``shard_count``) that holds ``sku``."""
    return jump_hash(stable_digest(sku), shard_count)
