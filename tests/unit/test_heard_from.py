"""The forecaster knows which owner batches it has heard, whatever order they arrive in."""

from __future__ import annotations

from actors.alerts.actor import HeardFrom


def test_batches_heard_out_of_order_count_once_the_gap_is_filled() -> None:
    heard = HeardFrom()
    heard.add((0, 1, 2))
    assert not heard.has_all([(0, 1, 2)])
    heard.add((0, 1, 1))
    assert heard.has_all([(0, 1, 2)])
    assert not heard.has_all([(0, 1, 3)])


def test_a_new_epoch_starts_counting_again_and_the_old_one_is_ignored() -> None:
    heard = HeardFrom()
    heard.add((0, 1, 1))
    heard.add((0, 2, 1))
    heard.add((0, 1, 2))  # the fenced incarnation's late batch
    assert heard.has_all([(0, 2, 1)])
    assert not heard.has_all([(0, 3, 1)])
    assert heard.owners[0][:2] == (2, 1)


def test_every_owner_must_be_heard() -> None:
    heard = HeardFrom()
    heard.add((0, 1, 1))
    assert heard.has_all([(0, 1, 1), (1, 1, 0)])  # owner 1 sent nothing yet
    assert not heard.has_all([(0, 1, 1), (1, 1, 1)])
