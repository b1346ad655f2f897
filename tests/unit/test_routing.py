"""``policies.routing``: which owner holds a SKU, the same everywhere and for ever."""

from __future__ import annotations

import hashlib
import json
import os
import subprocess
import sys
from collections import Counter
from pathlib import Path

import pytest

from policies.routing import jump_hash, owner_of, stable_digest

PROJECT_ROOT = Path(__file__).resolve().parents[2]
SKUS = [f"SKU-{i:05d}" for i in range(10_000)]

CHILD_CODE = """
import json, sys
from policies.routing import owner_of
skus = json.loads(sys.stdin.read())
print(json.dumps({"owners": [owner_of(s, int(sys.argv[1])) for s in skus], "salted": hash("SKU-probe")}))
"""


def owners_in_subprocess(skus: list[str], shard_count: int, hash_seed: str) -> tuple[list[int], int]:
    """``owner_of`` for ``skus`` computed by a fresh interpreter with PYTHONHASHSEED=hash_seed,
    and that interpreter's salted ``hash()`` of a probe string."""
    env = {**os.environ, "PYTHONHASHSEED": hash_seed, "PYTHONPATH": str(PROJECT_ROOT)}
    result = subprocess.run(
        [sys.executable, "-c", CHILD_CODE, str(shard_count)],
        input=json.dumps(skus),
        capture_output=True,
        text=True,
        env=env,
        cwd=PROJECT_ROOT,
        timeout=60,
        check=True,
    )
    answer = json.loads(result.stdout)
    return answer["owners"], answer["salted"]


def test_owner_of_is_the_same_in_processes_with_different_hash_seeds() -> None:
    skus = [*SKUS[:190], "口红-色号01", "sku with spaces", "a", "Z" * 128, "x/y", "0", "é", "🙂", "-", "_"]
    local = [owner_of(sku, 16) for sku in skus]

    first, first_salted = owners_in_subprocess(skus, 16, "1")
    second, second_salted = owners_in_subprocess(skus, 16, "987654")

    # the seeds really differ in what Python's own hash() gives, so the test means something
    assert first_salted != second_salted
    assert first == local
    assert second == local


def test_stable_digest_is_blake2b_64_bits_of_the_utf8_sku() -> None:
    expected = int.from_bytes(hashlib.blake2b("口红-01".encode(), digest_size=8).digest(), "big")

    assert stable_digest("口红-01") == expected
    assert 0 <= stable_digest("") < 2**64


@pytest.mark.parametrize("shard_count", [1, 2, 3, 7, 8, 64, 1000])
def test_owner_is_always_within_the_shard_count(shard_count: int) -> None:
    owners = {owner_of(sku, shard_count) for sku in SKUS[:2000]}

    assert min(owners) >= 0
    assert max(owners) < shard_count


def test_single_shard_owns_every_sku() -> None:
    assert {owner_of(sku, 1) for sku in SKUS[:500]} == {0}


def test_owners_are_roughly_balanced_over_eight_shards() -> None:
    counts = Counter(owner_of(sku, 8) for sku in SKUS)
    mean = len(SKUS) / 8

    assert sorted(counts) == list(range(8))
    for shard, count in counts.items():
        assert 0.8 * mean <= count <= 1.2 * mean, (shard, count)


@pytest.mark.parametrize("n", [1, 2, 3, 5, 7, 8, 15, 31])
def test_growing_from_n_to_n_plus_1_shards_moves_only_skus_to_the_new_shard(n: int) -> None:
    moved = [sku for sku in SKUS if owner_of(sku, n) != owner_of(sku, n + 1)]

    assert {owner_of(sku, n + 1) for sku in moved} == {n}
    expected = len(SKUS) / (n + 1)
    assert 0.8 * expected <= len(moved) <= 1.2 * expected, (len(moved), expected)


def test_growing_by_several_shards_at_once_moves_skus_only_to_the_new_shards() -> None:
    moved = [sku for sku in SKUS if owner_of(sku, 5) != owner_of(sku, 9)]

    assert all(5 <= owner_of(sku, 9) < 9 for sku in moved)
    expected = len(SKUS) * 4 / 9
    assert 0.8 * expected <= len(moved) <= 1.2 * expected, (len(moved), expected)


@pytest.mark.parametrize("buckets", [0, -1, -100])
def test_jump_hash_rejects_fewer_than_one_bucket(buckets: int) -> None:
    with pytest.raises(ValueError, match="buckets must be >= 1"):
        jump_hash(12345, buckets)


def test_jump_hash_uses_only_the_low_64_bits_of_the_digest() -> None:
    digest = stable_digest("SKU-1")

    assert jump_hash(digest + (5 << 64), 37) == jump_hash(digest, 37)
    assert jump_hash(0, 1) == 0
