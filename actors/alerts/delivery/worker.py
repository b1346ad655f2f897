"""Delivery off the evaluation path: notification groups, one bounded queue and one
thread per receiver.

The hub hands each subscription's notifications to ``Delivery.notify`` (a dictionary
update, no I/O) on the thread that evaluated them. A scheduler thread checks every
``tick_seconds`` which groups are due (``policies.notification_groups``: group_wait,
group_interval, repeat_interval of each subscription) and puts their digests on the
receivers' queues; each receiver's own thread sends its digests in order with the
sender's retries (``WebhookSender``: backoff, ``Retry-After``, dead letters). So a receiver
that hangs, or asks to retry later, delays only its own queue: never evaluation, never
another receiver.

A queue holds ``queue_size`` digests. When a receiver falls that far behind, the oldest
waiting digest is dead-lettered (``receiver queue full``) to make room: nothing is dropped
silently, and the receiver gets the newest state of the show first when it recovers.

Without ``start`` (unit tests, a replay), nothing runs in the background: ``flush`` takes
the due groups and sends their digests on the caller's thread.

Crash: groups and queues live in this process; a crash loses what waits in them (the
durable alert stream keeps every notification, for a receiver to catch up from).
"""

from __future__ import annotations

import queue
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from typing import Any, NamedTuple, Protocol

import structlog

from actors.alerts.delivery.formats import digest_payload
from actors.alerts.store import DeadLetters
from actors.alerts.webhooks import shown
from policies.notification_groups import (
    NotificationGroup,
    Record,
    Timing,
    add_notifications,
    take_due,
)
from policies.subscriptions import Subscription

log = structlog.get_logger(__name__)


class Sender(Protocol):
    """Delivers one digest to a subscription (``WebhookSender``): True once delivered."""

    def deliver(self, subscription: Subscription, event_id: str, payload: Mapping[str, Any]) -> bool: ...


class Job(NamedTuple):
    subscription: Subscription
    event_id: str
    payload: dict[str, Any]


def timing_of(subscription: Subscription) -> Timing:
    return Timing(subscription.group_wait, subscription.group_interval, subscription.repeat_interval)


class Lane:
    """One receiver's bounded queue and the thread that empties it."""

    def __init__(self, subscription_id: str, size: int) -> None:
        self.subscription_id = subscription_id
        self.jobs: queue.Queue[Job | None] = queue.Queue(maxsize=size)
        self.thread: threading.Thread | None = None


class Delivery:
    """Notification groups per subscription and the receivers' lanes (see the module)."""

    def __init__(
        self,
        sender: Sender,
        dead: DeadLetters,
        *,
        show: str = "",
        queue_size: int = 16,
        tick_seconds: float = 0.2,
        clock: Callable[[], float] = time.time,
    ) -> None:
        if queue_size < 1:
            raise ValueError("queue_size must be at least 1")
        self.sender = sender
        self.dead = dead
        self.show = show
        self.queue_size = queue_size
        self.tick_seconds = tick_seconds
        self.clock = clock
        self.subscriptions: dict[str, Subscription] = {}
        self.groups: dict[str, NotificationGroup] = {}
        self.lanes: dict[str, Lane] = {}
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._scheduler: threading.Thread | None = None

    # ---- what the hub calls -------------------------------------------------------------

    def subscribe(self, subscription: Subscription) -> None:
        with self._lock:
            self.subscriptions[subscription.id] = subscription

    def unsubscribe(self, subscription_id: str) -> None:
        """Forget the subscription, its group and what waits in its queue."""
        with self._lock:
            self.subscriptions.pop(subscription_id, None)
            self.groups.pop(subscription_id, None)
            lane = self.lanes.pop(subscription_id, None)
        if lane is not None:
            self._close(lane)

    def notify(self, subscription_id: str, records: Sequence[Record], now: float | None = None) -> None:
        """Join ``records`` to the subscription's group (no I/O)."""
        at = self.clock() if now is None else now
        with self._lock:
            if subscription_id in self.subscriptions:
                group = self.groups.get(subscription_id, NotificationGroup())
                self.groups[subscription_id] = add_notifications(group, records, at)

    def flush(self, now: float | None = None) -> int:
        """Hand every due group's digest to its receiver's queue; without ``start``,
        send them here. The number of digests handed over (or, unstarted, delivered)."""
        jobs = self._due(self.clock() if now is None else now)
        if self._scheduler is None:
            return sum(self._send(job) for job in jobs)
        for job in jobs:
            self._enqueue(job)
        return len(jobs)

    # ---- threads ------------------------------------------------------------------------

    def start(self) -> None:
        if self._scheduler is not None:
            return
        self._scheduler = threading.Thread(target=self._schedule, name="delivery-scheduler", daemon=True)
        self._scheduler.start()

    def stop(self, timeout: float = 5.0) -> None:
        """Stop scheduling, drop what waits, and let each receiver's thread end after the
        digest it is sending (waiting at most ``timeout`` seconds for each)."""
        self._stop.set()
        if self._scheduler is not None:
            self._scheduler.join(timeout)
        with self._lock:
            lanes = list(self.lanes.values())
            self.lanes.clear()
        for lane in lanes:
            self._close(lane)
        for lane in lanes:
            if lane.thread is not None:
                lane.thread.join(timeout)

    def _schedule(self) -> None:
        while not self._stop.wait(self.tick_seconds):
            try:
                self.flush()
            except Exception:
                log.exception("delivery_schedule_failed")

    def _run_lane(self, lane: Lane) -> None:
        while True:
            job = lane.jobs.get()
            if job is None:
                return
            try:
                self._send(job)
            except Exception as exc:  # not a receiver's answer (those are dead-lettered by the sender)
                log.exception("delivery_failed", subscription=job.subscription.id, event_id=job.event_id)
                try:
                    self._dead_letter(job, f"delivery failed: {type(exc).__name__}: {exc}")
                except Exception:  # the store is down too: the log line above is all there is
                    log.exception("delivery_dead_letter_failed", subscription=job.subscription.id)

    # ---- internals ----------------------------------------------------------------------

    def _due(self, now: float) -> list[Job]:
        jobs: list[Job] = []
        with self._lock:
            for sub_id, group in list(self.groups.items()):
                subscription = self.subscriptions[sub_id]
                after, digest = take_due(group, now, timing_of(subscription))
                if digest is None:
                    continue
                self.groups[sub_id] = after
                if digest.notifications:
                    first = digest.notifications[0]["alert"]
                    event_id = f"{sub_id}:{first['id']}:{first['updated_wall']}:{len(digest.notifications)}"
                else:
                    event_id = f"{sub_id}:repeat:{now:.3f}"
                jobs.append(Job(subscription, event_id, digest_payload(sub_id, self.show, digest)))
        return jobs

    def _send(self, job: Job) -> bool:
        return self.sender.deliver(job.subscription, job.event_id, job.payload)

    def _enqueue(self, job: Job) -> None:
        lane = self._lane(job.subscription.id)
        if lane is None:
            return  # unsubscribed since its digest was taken: it wants nothing more
        while True:
            try:
                lane.jobs.put_nowait(job)
                return
            except queue.Full:
                try:
                    oldest = lane.jobs.get_nowait()
                except queue.Empty:
                    continue
                if oldest is not None:
                    self._dead_letter(oldest, f"receiver queue full: {self.queue_size} digests waiting")
                    log.error("delivery_queue_full", subscription=oldest.subscription.id)

    def _dead_letter(self, job: Job, error: str) -> None:
        self.dead.add_dead_letter(
            job.subscription.id,
            {
                "event_id": job.event_id,
                "url": shown(job.subscription),
                "payload": job.payload,
                "error": error,
                "attempts": 0,
                "failed_at": time.time(),
            },
        )

    def _lane(self, subscription_id: str) -> Lane | None:
        with self._lock:
            if subscription_id not in self.subscriptions or self._stop.is_set():
                return None
            lane = self.lanes.get(subscription_id)
            if lane is None:
                lane = self.lanes[subscription_id] = Lane(subscription_id, self.queue_size)
                lane.thread = threading.Thread(
                    target=self._run_lane, args=(lane,), name=f"delivery-{subscription_id}", daemon=True
                )
                lane.thread.start()
            return lane

    def _close(self, lane: Lane) -> None:
        """Drop what waits (said in the log: the alert stream keeps it) and tell the lane's
        thread to end after its current digest."""
        dropped = 0
        while True:
            try:
                dropped += lane.jobs.get_nowait() is not None
            except queue.Empty:
                break
        if dropped:
            log.warning("delivery_queue_dropped", subscription=lane.subscription_id, digests=dropped)
        try:
            lane.jobs.put_nowait(None)
        except queue.Full:  # refilled meanwhile: the thread ends with the process (a daemon)
            log.warning("delivery_lane_not_closed", subscription=lane.subscription_id)
