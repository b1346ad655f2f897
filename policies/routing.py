"""Which partition holds a SKU's ledger, and which owner holds a partition: pure,
stable functions of (sku, partition count, shard count).

Every process on every node must compute the same answer, so the key is a stable
digest of the SKU id (BLAKE2b, 64 bits), never Python's per-process salted ``hash()``.
Jump consistent hash (Lamping & Veach, 2014) maps it to one of a fixed number of
partitions (``StoreConfig.partitions``, chosen once per deployment): a partition is the
unit of storage (its Redis keys share one hash tag, ``actors.infra.keys``). Partition
``p`` belongs to owner ``p % shard_count``, so changing the shard count moves whole
partitions between owners and never moves a key.
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


#: partitions of a deployment that does not choose its own (``StoreConfig.partitions``)
DEFAULT_PARTITIONS = 16


def partition_of(sku: str, partitions: int = DEFAULT_PARTITIONS) -> int:
    """The partition (0-based, below ``partitions``) that stores ``sku``."""
    return jump_hash(stable_digest(sku), partitions)


def owner_of_partition(partition: int, shard_count: int) -> int:
    """The owner (0-based, below ``shard_count``) that holds ``partition``."""
    if shard_count < 1:
        raise ValueError(f"shard_count must be >= 1, got {shard_count}")
    return partition % shard_count


def owner_of(sku: str, shard_count: int, partitions: int = DEFAULT_PARTITIONS) -> int:
    """The index of the SKU owner (0-based, below ``shard_count``) that holds ``sku``:
    the owner of its partition. Owners beyond ``partitions`` would hold nothing."""
    if shard_count > partitions:
        raise ValueError(f"shard_count {shard_count} exceeds the {partitions} partitions")
    return owner_of_partition(partition_of(sku, partitions), shard_count)


def partitions_of(index: int, shard_count: int, partitions: int = DEFAULT_PARTITIONS) -> list[int]:
    """The partitions owner ``index`` holds, ascending."""
    return list(range(index, partitions, shard_count))
