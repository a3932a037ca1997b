"""Which Kraken request goes out next: priority lanes, Kraken's rate models, coalescing.

The KrakenGateway keeps one :class:`RequestScheduler` and asks it for the next :class:`Dispatch`
whenever a worker is free. The scheduler never sleeps and never sends: it answers "send this now"
(and charges the rate models), "reject this locally", or "nothing fits; look again in N seconds".

Rules it applies, in order:

- Lanes: cancels (and the dead man's switch) before placements and amends, before queries.
  Within a lane, first come first served.
- A request waits while Kraken's model says it would not fit: the per-pair trading counter for
  AddOrder/AddOrderBatch/AmendOrder/CancelOrder (cancel and amend cost by order age), the REST
  call counter for every other private call, each with ``safety_margin`` points kept free so a
  lagging reading never earns ``EOrder:Rate limit exceeded``. A waiting request blocks the
  resource it waits on for everything behind it (priority holds per resource), but not other
  pairs or the other counter.
- Placements on one pair are coalesced into AddOrderBatch (2 to 15, cost n/2) when enabled;
  status queries into QueryOrders of up to 50 txids.
- A placement on a pair whose open orders are at the tier's maximum waits, in order, until one of
  them ends (the gateway is told OrderReleased); Kraken would refuse it with
  ``EOrder:Orders limit exceeded``.
- Circuit breakers hold kinds of traffic (see :data:`HELD_BY`); half-open lets through
  ``half_open_max_calls`` trial calls per category.
- Paths: the caller says which jobs may go over the authenticated WebSocket (``ws``) and whether
  a REST worker is free (``rest_open``). The same models pace both paths; a WebSocket request
  costs nothing on the REST call counter. A coalesced batch takes only jobs of its head's path.

Pure: time comes from the injected clock, nothing here is thread-safe (the gateway owns it).
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Callable

from gal_exec.core.clock import Clock
from gal_exec.kraken.jobs import (
    ENDPOINTS,
    HELD_BY,
    MAX_BATCH_ORDERS,
    MAX_QUERY_TXIDS,
    Dispatch,
    Idle,
    Job,
    JobKind,
    Lane,
    LocalRejection,
)
from gal_exec.kraken.ratelimits import (
    OpenOrderCounter,
    RestCallCounter,
    Tier,
    TradingAction,
    TradingCounter,
    trading_cost,
)

__all__ = ["RequestScheduler"]

_KINDS_IN = {lane: [kind for kind in JobKind if Job(kind, None).lane is lane] for lane in Lane}
_LANES = tuple(Lane)  # iterating an Enum class is slow; take() does it on every call
_KINDS = tuple(JobKind)

# Float tolerance: after waiting exactly the computed time, a request must fit.
_EPSILON = 1e-9


class RequestScheduler:
    """Priority queues over Kraken's rate models for one API key."""

    def __init__(
        self,
        tier: Tier | str,
        clock: Clock,
        *,
        safety_margin: float = 1.0,
        coalesce_batches: bool = True,
        ledger_cost: float = 2,
        half_open_max_calls: int = 1,
    ) -> None:
        if safety_margin < 0:
            raise ValueError(f"safety_margin must be >= 0, got {safety_margin}")
        self._clock = clock
        self.rest = RestCallCounter(tier, clock, ledger_cost=ledger_cost)
        self.trading = TradingCounter(tier, clock)
        self.open_orders = OpenOrderCounter(tier)
        self.safety_margin = safety_margin
        self.coalesce_batches = coalesce_batches
        self.half_open_max_calls = half_open_max_calls
        self._lanes: dict[Lane, list[Job]] = {lane: [] for lane in Lane}
        self._sequence = itertools.count()
        self._open_ids: dict[str, set[str]] = {}
        self._breakers: dict[str, str] = {}
        self._trials_left: dict[str, int] = {}
        self._held_now: dict[JobKind, bool] | None = None
        """Which kinds the breakers hold, kept until a breaker or a trial count changes."""
        self._lanes_held: frozenset[Lane] = frozenset()
        """The lanes held whole, computed with ``_held_now``."""
        self.pairs_seen: set[str] = set()

    # --- queueing -----------------------------------------------------------------------------

    def submit(self, job: Job) -> None:
        """Queue a new job at the back of its lane."""
        job.seq = next(self._sequence)
        job.enqueued_at = self._clock.monotonic()
        if job.pair is not None:
            self.pairs_seen.add(job.pair)
        self._lanes[job.lane].append(job)

    def withdraw(self, cl_ord_id: str) -> Job | None:
        """Take a placement that has not been sent out of the queue; None if it is not queued
        (it left already, or was never here)."""
        for queue in self._lanes.values():
            for index, job in enumerate(queue):
                if job.kind is JobKind.PLACE and job.cl_ord_id == cl_ord_id:
                    del queue[index]
                    return job
        return None

    def requeue(self, job: Job, *, delay_s: float = 0.0) -> None:
        """Put a job back in its original turn (by arrival), not before ``delay_s`` from now."""
        job.not_before = self._clock.monotonic() + max(0.0, delay_s)
        queue = self._lanes[job.lane]
        # Lanes are kept in seq order; a requeued job keeps its turn.
        position = len(queue)
        while position > 0 and queue[position - 1].seq > job.seq:
            position -= 1
        queue.insert(position, job)

    def queued(self) -> dict[str, int]:
        """Jobs waiting per lane, by lane name."""
        return {lane.name.lower(): len(jobs) for lane, jobs in self._lanes.items()}

    def held(self) -> int:
        """Queued jobs that a breaker holds right now."""
        return sum(1 for jobs in self._lanes.values() for job in jobs if self._is_held(job.kind))

    def drain(self) -> list[Job]:
        """Remove and return every queued job (used when the gateway can no longer send)."""
        jobs = [job for lane in Lane for job in self._lanes[lane]]
        for queue in self._lanes.values():
            queue.clear()
        return jobs

    # --- breakers -----------------------------------------------------------------------------

    def set_breaker(self, category: str, state: str) -> None:
        """Adopt a breaker's state (closed, open, half_open) for ``category``."""
        self._breakers[category] = state
        self._held_now = None
        if state == "half_open":
            self._trials_left[category] = self.half_open_max_calls
        else:
            self._trials_left.pop(category, None)

    def breaker_states(self) -> dict[str, str]:
        return dict(self._breakers)

    def half_open_categories(self, kind: JobKind) -> tuple[str, ...]:
        """Half-open categories whose breaker holds ``kind`` (a call of it is their trial)."""
        return tuple(
            category
            for category, kinds in HELD_BY.items()
            if kind in kinds and self._breakers.get(category) == "half_open"
        )

    def restore_trials(self, categories: tuple[str, ...]) -> None:
        """Give back trial calls whose outcome said nothing about their breaker."""
        for category in categories:
            if self._breakers.get(category) == "half_open":
                self._trials_left[category] = self._trials_left.get(category, 0) + 1
                self._held_now = None

    def _is_held(self, kind: JobKind) -> bool:
        for category, kinds in HELD_BY.items():
            if kind not in kinds:
                continue
            state = self._breakers.get(category, "closed")
            if state == "open":
                return True
            if state == "half_open" and self._trials_left.get(category, 0) <= 0:
                return True
        return False

    # --- rate-model evidence ------------------------------------------------------------------

    def observe_trading_level(self, pair: str, level: float) -> None:
        """Adopt Kraken's reading for ``pair`` unless ours is higher.

        The reading lags: it cannot include what we sent after it was taken, so it may only raise
        the model, never lower it.
        """
        self.pairs_seen.add(pair)
        self.trading.correct(pair, max(level, self.trading.level(pair)))

    def rate_limited(self, code: str, pair: str | None) -> None:
        """Kraken refused a call for load: our model was low, so raise it to the limit."""
        if code == "EOrder:Rate limit exceeded" and pair is not None:
            self.trading.correct(pair, max(self.trading.threshold, self.trading.level(pair)))
        elif code == "EAPI:Rate limit exceeded":
            self.rest.correct(max(self.rest.limits.rest_max, self.rest.level()))

    def trading_headroom(self) -> dict[str, float]:
        """Points still spendable now on each pair seen."""
        return {pair: round(self.trading.headroom(pair), 6) for pair in sorted(self.pairs_seen)}

    # --- open orders --------------------------------------------------------------------------

    def release(self, pair: str, cl_ord_id: str) -> bool:
        """An order is no longer open (or was never placed); True if it was being counted."""
        ids = self._open_ids.get(pair)
        if ids is None or cl_ord_id not in ids:
            return False
        ids.discard(cl_ord_id)
        self.open_orders.closed(pair)
        return True

    def _reserve(self, pair: str, cl_ord_id: str | None) -> None:
        if cl_ord_id is None:
            self.open_orders.opened(pair)
            return
        ids = self._open_ids.setdefault(pair, set())
        if cl_ord_id not in ids:
            ids.add(cl_ord_id)
            self.open_orders.opened(pair)

    def adopt(self, pair: str, cl_ord_id: str) -> None:
        """Count an order that is open on the exchange but was placed before a restart."""
        self._reserve(pair, cl_ord_id)

    def open_counts(self) -> dict[str, int]:
        return {pair: self.open_orders.count(pair) for pair in sorted(self._open_ids)}

    # --- choosing -----------------------------------------------------------------------------

    def take(
        self, *, ws: Callable[[Job], bool] | None = None, rest_open: bool = True
    ) -> Dispatch | LocalRejection | Idle:
        """The next thing to do: a Dispatch (models charged), a LocalRejection, or Idle.

        ``ws(job)`` says whether a job goes over the WebSocket now (None: nothing does); with
        ``rest_open`` False, jobs that would go by REST wait (no worker is free).
        """
        now = self._clock.monotonic()
        held = self._held_now
        if held is None:
            held = self._held_now = {kind: self._is_held(kind) for kind in _KINDS}
            self._lanes_held = frozenset(
                lane for lane in _LANES if all(held[kind] for kind in _KINDS_IN[lane])
            )
        lanes_held = self._lanes_held
        blocked_pairs: set[str] = set()
        full_pairs: set[str] = set()
        rest_blocked = False
        wake = math.inf
        for lane in _LANES:
            if lane in lanes_held:
                continue  # a breaker holds the whole lane: no need to look at each job
            if lane is Lane.QUERY and not rest_open:
                continue  # queries only go by REST
            queue = self._lanes[lane]
            for index, job in enumerate(queue):
                if rest_blocked and lane is Lane.QUERY:
                    break  # every query needs the REST counter: nothing further can fit
                if held[job.kind] or (
                    job.kind is JobKind.PLACE
                    and (job.pair in blocked_pairs or job.pair in full_pairs)
                ):
                    continue
                if job.not_before > now:
                    wake = min(wake, job.not_before - now)
                    continue
                by_ws = ws is not None and ws(job)
                if not by_ws and not rest_open:
                    continue  # waits for a REST worker
                endpoint = ENDPOINTS[job.kind]
                rest_cost = 0.0 if by_ws else self.rest.cost(endpoint)
                trade_cost = self._trading_cost(job, now)
                uses_trading = job.pair is not None and trade_cost > 0
                if (rest_cost > 0 and rest_blocked) or (uses_trading and job.pair in blocked_pairs):
                    continue
                pair = job.pair
                if (
                    job.kind is JobKind.PLACE
                    and pair is not None
                    and not self.open_orders.can_open(pair)
                ):
                    # The pair is at the tier's open-order maximum: placements on it wait for an
                    # order to end (OrderReleased), in order, rather than being refused.
                    full_pairs.add(pair)
                    continue
                rest_wait = self._rest_wait(rest_cost)
                trading_wait = self._trading_wait(job.pair, trade_cost) if uses_trading else 0.0
                if rest_wait > 0 or trading_wait > 0:
                    wake = min(wake, max(rest_wait, trading_wait))
                    rest_blocked = rest_blocked or rest_wait > 0
                    if trading_wait > 0:
                        blocked_pairs.add(job.pair)  # type: ignore[arg-type]
                    continue
                path_ok = ws if by_ws else None
                return self._build(queue, index, job, now, rest_cost, trade_cost, path_ok)
        return Idle(None if math.isinf(wake) else wake)

    def _trading_cost(self, job: Job, now: float) -> float:
        if job.kind is JobKind.PLACE:
            return trading_cost(TradingAction.ADD)
        if job.kind in (JobKind.CANCEL, JobKind.AMEND):
            # The penalty falls with age: price it at the age the order has now.
            age = max(0.0, job.order_age_s) + max(0.0, now - job.enqueued_at)
            action = TradingAction.CANCEL if job.kind is JobKind.CANCEL else TradingAction.AMEND
            return trading_cost(action, age)
        return 0.0

    def _rest_wait(self, cost: float) -> float:
        if cost <= 0:
            return 0.0
        limits = self.rest.limits
        return _wait(
            cost, self.safety_margin, limits.rest_max, self.rest.headroom(), limits.rest_decay
        )

    def _trading_wait(self, pair: str | None, cost: float) -> float:
        if pair is None or cost <= 0:
            return 0.0
        limits = self.trading.limits
        return _wait(
            cost,
            self.safety_margin,
            limits.trading_threshold,
            self.trading.headroom(pair),
            limits.trading_decay,
        )

    def _trading_room(self, pair: str) -> float:
        return self.trading.headroom(pair) - self.safety_margin

    def _build(
        self,
        queue: list[Job],
        index: int,
        head: Job,
        now: float,
        rest_cost: float,
        trade_cost: float,
        ws: Callable[[Job], bool] | None,
    ) -> Dispatch:
        """Charge the models and take ``head`` (and its batch) out of ``queue``. ``ws`` is set
        when the dispatch goes over the WebSocket: followers must go that way too."""
        kind = head.kind
        endpoint = ENDPOINTS[kind]
        jobs: list[Job] = [head]
        if kind is JobKind.PLACE and self._batchable(head):
            batch = self._batch_for(queue, index, head, now, ws)
            batch_rest = 0.0 if ws is not None else self.rest.cost("AddOrderBatch")
            if len(batch) >= 2 and self._rest_wait(batch_rest) == 0:
                jobs = batch
                endpoint = "AddOrderBatch"
                rest_cost = batch_rest
                trade_cost = trading_cost(TradingAction.BATCH_ADD, count=len(batch))
        elif kind is JobKind.STATUS:
            jobs = self._statuses_for(queue, index, now)
        if len(jobs) == 1 and queue[index] is head:
            del queue[index]  # the usual case: no pass over the whole lane
        else:
            chosen = {id(job) for job in jobs}
            queue[:] = [job for job in queue if id(job) not in chosen]
        if rest_cost > 0 and ws is None:
            self.rest.record(endpoint)
        if trade_cost > 0 and head.pair is not None:
            self.trading.record(head.pair, trade_cost)
        if kind is JobKind.PLACE:
            for job in jobs:
                if not getattr(job.order, "validate", False):  # validate-only never rests
                    self._reserve(job.pair, job.cl_ord_id)  # type: ignore[arg-type]
        trials = self.half_open_categories(kind)
        for category in trials:
            self._trials_left[category] = self._trials_left.get(category, 0) - 1
            self._held_now = None
        return Dispatch(
            kind,
            endpoint,
            tuple(jobs),
            pair=head.pair,
            trading_cost=trade_cost,
            rest_cost=rest_cost,
            trial_for=trials,
            path="ws" if ws is not None else "rest",
        )

    def _batchable(self, job: Job) -> bool:
        if not self.coalesce_batches or job.no_batch:
            return False
        order = job.order
        # validate and deadline belong to the whole batch in AddOrderBatch: such orders go alone.
        return not (getattr(order, "validate", False) or getattr(order, "deadline", None))

    def _batch_for(
        self,
        queue: list[Job],
        index: int,
        head: Job,
        now: float,
        ws: Callable[[Job], bool] | None = None,
    ) -> list[Job]:
        limit = min(
            MAX_BATCH_ORDERS,
            self.open_orders.remaining(head.pair),  # type: ignore[arg-type]
            math.floor(2 * self._trading_room(head.pair) + _EPSILON),  # type: ignore[arg-type]
        )
        batch = [head]
        kraken_pair = getattr(head.order, "pair", None)
        for job in itertools.islice(queue, index + 1, None):
            if len(batch) >= limit:
                break
            if (
                job.kind is JobKind.PLACE
                and job.pair == head.pair
                and getattr(job.order, "pair", None) == kraken_pair
                and job.not_before <= now
                and self._batchable(job)
                and (ws is None or ws(job))
            ):
                batch.append(job)
        return batch

    def _statuses_for(self, queue: list[Job], index: int, now: float) -> list[Job]:
        txids: set[str] = set()
        jobs: list[Job] = []
        for job in itertools.islice(queue, index, None):
            if job.kind is not JobKind.STATUS or job.not_before > now:
                continue
            if job.txid not in txids:
                if len(txids) >= MAX_QUERY_TXIDS:
                    continue
                txids.add(job.txid)  # type: ignore[arg-type]
            jobs.append(job)
        return jobs


def _wait(cost: float, margin: float, maximum: float, headroom: float, decay: float) -> float:
    """Seconds until ``cost`` (plus the margin, capped at the maximum) fits in ``headroom``."""
    required = min(cost + margin, maximum) if cost <= maximum else maximum
    excess = required - headroom
    return 0.0 if excess <= _EPSILON else excess / decay
