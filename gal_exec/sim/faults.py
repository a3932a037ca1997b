"""Seeded fault injection for the simulator's REST and WebSocket front ends.

A fault plan is JSON (``SimConfig.faults`` names a file; ``PUT /sim/faults`` replaces it live)::

    {"seed": 42,
     "rules": [
       {"endpoint": "AddOrder", "kind": "http_502", "next": 1},
       {"endpoint": "AddOrder", "kind": "drop", "when": "after", "every": 5},
       {"endpoint": "*", "kind": "latency", "delay_s": 0.05, "probability": 0.2},
       {"endpoint": "QueryOrders", "kind": "unavailable", "probability": 0.1, "seed": 3},
       {"endpoint": "Balance", "kind": "error", "message": "EService:Busy", "skip": 2, "next": 1},
       {"kind": "ws_delay", "delay_s": 0.5, "next": 3},
       {"kind": "ws_disconnect", "every": 100}
     ]}

Rule fields:

- ``endpoint``: a Kraken method name (``AddOrder``, ``Time``, ...) or ``"*"`` for every REST
  call (default ``"*"``). WebSocket kinds ignore it. The /sim/ control API is never faulted.
- ``kind``:

  - ``latency``: sleep ``delay_s`` (default 0.1) before processing, or after processing and
    before answering with ``"when": "after"``.
  - ``ws_before_rest``: latency after processing (default 0.2 s): the WS updates of the request
    reach the client before its REST answer.
  - ``http_500`` / ``http_502`` / ``http_503`` / ``http_504``: answer with that HTTP status and an
    HTML body. ``"when": "after"`` (the default) processes the request first: the outcome-unknown
    case (the order exists, the client sees an error). ``"when": "before"`` does not process it.
  - ``drop``: close the connection without an answer; ``when`` as for http (default after).
  - ``unavailable``: answer ``EService:Unavailable`` without processing.
  - ``error``: answer the Kraken error ``message`` without processing.
  - ``ws_delay``: delay the next execution update by ``delay_s`` (default 0.5).
  - ``ws_disconnect``: the WS server drops the connection (asked once per outgoing message).
  - ``ws_drop``: a WS trading request (``endpoint`` is the method, e.g. ``add_order``) drops the
    connection without an answer; ``"when": "after"`` (the default) processes it first.
  - ``ws_no_reply``: the request is processed (``after``, the default) or lost (``before``) and
    never answered; the connection stays up.
  - ``ws_error_no_req_id``: the request is answered ``message`` as an error without ``req_id``;
    ``before`` (the default) does not process it, ``after`` does.
  - ``ws_error``: the request is answered ``message`` as its error (with its ``req_id``) and not
    processed, e.g. ``EAPI:Invalid token`` or ``EService:Unavailable``.

- When it fires (default: always): ``probability`` (0..1, drawn from the rule's own seeded RNG),
  ``every`` N (every Nth matching request), ``next`` N (the next N matching requests, then the
  rule is spent); ``skip`` K ignores the first K matching requests before any of those apply.
- ``seed``: the rule's RNG seed (default: the plan's ``seed``, itself defaulting to the
  simulator's seed, mixed with the rule's index).

Several latency rules that fire add up; of the other REST kinds, the first that fires wins.
"""

from __future__ import annotations

import json
import random
import threading
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path
from typing import Any

__all__ = ["Fault", "FaultPlan", "FaultPlanError", "FaultRule"]

REST_ACTIONS = frozenset(
    {"http_500", "http_502", "http_503", "http_504", "drop", "unavailable", "error"}
)
WS_REQUEST_KINDS = frozenset({"ws_drop", "ws_no_reply", "ws_error_no_req_id", "ws_error"})
WS_KINDS = frozenset({"ws_delay", "ws_disconnect"}) | WS_REQUEST_KINDS
KINDS = REST_ACTIONS | WS_KINDS | {"latency", "ws_before_rest"}
_DEFAULT_DELAY = {"latency": 0.1, "ws_before_rest": 0.2, "ws_delay": 0.5}
_AFTER_BY_DEFAULT = frozenset(
    {"http_500", "http_502", "http_503", "http_504", "drop", "ws_before_rest", "ws_drop"}
    | {"ws_no_reply"}
)
_FIELDS = {
    "endpoint",
    "kind",
    "when",
    "delay_s",
    "message",
    "probability",
    "every",
    "next",
    "skip",
    "seed",
}


class FaultPlanError(ValueError):
    """A fault plan that cannot be used; the message names the rule and field."""


@dataclass(frozen=True, slots=True)
class Fault:
    """What a front end must do to one request or update.

    ``kind`` is the action (``http_502``, ``drop``, ``unavailable``, ``error``) or ``latency``
    when the only effect is ``delay_s``. ``status`` is the HTTP status for http kinds.
    """

    kind: str
    delay_s: float = 0.0
    status: int = 0
    message: str = ""


class FaultRule:
    """One rule of a plan, with its own counter and RNG."""

    def __init__(self, spec: dict[str, Any], index: int, plan_seed: int) -> None:
        where = f"faults.rules[{index}]"
        if not isinstance(spec, dict):
            raise FaultPlanError(f"{where}: expected an object")
        unknown = set(spec) - _FIELDS
        if unknown:
            raise FaultPlanError(f"{where}.{sorted(unknown)[0]}: unknown field")
        kind = spec.get("kind")
        if kind not in KINDS:
            raise FaultPlanError(
                f"{where}.kind: expected one of {', '.join(sorted(KINDS))}; got {kind!r}"
            )
        self.kind: str = kind
        self.endpoint = str(spec.get("endpoint", "*"))
        when = spec.get("when", "after" if kind in _AFTER_BY_DEFAULT else "before")
        if when not in ("before", "after") or (
            kind in ("unavailable", "error", "ws_error") and when != "before"
        ):
            raise FaultPlanError(f"{where}.when: not valid for kind {kind}: {when!r}")
        self.when: str = when
        self.delay_s = _number(spec, "delay_s", where, _DEFAULT_DELAY.get(kind, 0.0), minimum=0)
        self.message = str(spec.get("message", "EGeneral:Internal error"))
        self.probability = _number(spec, "probability", where, 1.0, minimum=0, maximum=1)
        self.every = int(_number(spec, "every", where, 1, minimum=1))
        self.remaining: int | None = (
            int(_number(spec, "next", where, 0, minimum=1)) if "next" in spec else None
        )
        self.skip = int(_number(spec, "skip", where, 0, minimum=0))
        seed = spec.get("seed", plan_seed)
        if not isinstance(seed, int) or isinstance(seed, bool):
            raise FaultPlanError(f"{where}.seed: expected an integer")
        self._rng = random.Random(seed * 1_000_003 + index)
        self.seen = 0
        self.fired = 0
        self.spec = dict(spec)

    def matches(self, endpoint: str) -> bool:
        return self.endpoint in ("*", endpoint)

    def fires(self) -> bool:
        """Count one matching request and decide whether the rule fires for it."""
        self.seen += 1
        if self.seen <= self.skip:
            return False
        if self.remaining is not None and self.remaining <= 0:
            return False
        if (self.seen - self.skip) % self.every != 0:
            return False
        if self.probability < 1 and self._rng.random() >= self.probability:
            return False
        if self.remaining is not None:
            self.remaining -= 1
        self.fired += 1
        return True


def _number(spec, name, where, default, *, minimum=None, maximum=None) -> float:
    value = spec.get(name, default)
    if isinstance(value, Decimal):
        value = float(value)
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise FaultPlanError(f"{where}.{name}: expected a number; got {value!r}")
    if (minimum is not None and value < minimum) or (maximum is not None and value > maximum):
        raise FaultPlanError(f"{where}.{name}: out of range: {value}")
    return value


class FaultPlan:
    """A set of seeded rules the REST and WS servers consult; thread-safe."""

    def __init__(self, rules: list[dict[str, Any]] | None = None, *, seed: int = 7) -> None:
        self.seed = seed
        self.rules = [FaultRule(spec, index, seed) for index, spec in enumerate(rules or [])]
        self._lock = threading.Lock()

    @classmethod
    def from_dict(cls, data: Any, *, default_seed: int = 7) -> FaultPlan:
        """A plan from parsed JSON: ``{"seed"?, "rules": [...]}`` or a bare list of rules."""
        if isinstance(data, list):
            data = {"rules": data}
        if not isinstance(data, dict):
            raise FaultPlanError("faults: expected an object with a rules list")
        unknown = set(data) - {"seed", "rules"}
        if unknown:
            raise FaultPlanError(f"faults.{sorted(unknown)[0]}: unknown field")
        seed = data.get("seed", default_seed)
        if not isinstance(seed, int) or isinstance(seed, bool):
            raise FaultPlanError("faults.seed: expected an integer")
        rules = data.get("rules", [])
        if not isinstance(rules, list):
            raise FaultPlanError("faults.rules: expected a list")
        return cls(rules, seed=seed)

    @classmethod
    def from_json(cls, text: str | bytes, *, default_seed: int = 7) -> FaultPlan:
        try:
            data = json.loads(text) if text.strip() else {}
        except ValueError as exc:
            raise FaultPlanError(f"faults: not valid JSON: {exc}") from None
        return cls.from_dict(data, default_seed=default_seed)

    @classmethod
    def load(cls, path: str | Path, *, default_seed: int = 7) -> FaultPlan:
        """Read a plan file; FaultPlanError with a one-line message if it is unusable."""
        try:
            text = Path(path).read_text(encoding="utf-8")
        except OSError as exc:
            raise FaultPlanError(f"{path}: cannot read: {exc.strerror or exc}") from None
        try:
            return cls.from_json(text, default_seed=default_seed)
        except FaultPlanError as exc:
            raise FaultPlanError(f"{path}: {exc}") from None

    def _rest(self, endpoint: str, when: str) -> Fault | None:
        delay = 0.0
        action: FaultRule | None = None
        with self._lock:
            for rule in self.rules:
                if rule.kind in WS_KINDS or rule.when != when or not rule.matches(endpoint):
                    continue
                if not rule.fires():
                    continue
                if rule.kind in ("latency", "ws_before_rest"):
                    delay += rule.delay_s
                elif action is None:
                    action = rule
        if action is None:
            return Fault("latency", delay_s=delay) if delay > 0 else None
        status = int(action.kind[5:]) if action.kind.startswith("http_") else 0
        return Fault(action.kind, delay_s=delay, status=status, message=action.message)

    def rest_before(self, endpoint: str) -> Fault | None:
        """The fault to apply before processing a REST call to ``endpoint``, if any."""
        return self._rest(endpoint, "before") if self.rules else None

    def rest_after(self, endpoint: str) -> Fault | None:
        """The fault to apply after processing, before answering, if any."""
        return self._rest(endpoint, "after") if self.rules else None

    def ws_request(self, method: str, when: str) -> Fault | None:
        """The fault for a WS trading request ``method`` at ``when`` (before or after it is
        processed): ``ws_drop``, ``ws_no_reply`` or ``ws_error_no_req_id``; the first that fires."""
        if not self.rules:
            return None
        with self._lock:
            for rule in self.rules:
                if rule.kind not in WS_REQUEST_KINDS or rule.when != when:
                    continue
                if rule.matches(method) and rule.fires():
                    return Fault(rule.kind, message=rule.message)
        return None

    def ws_update_delay_s(self) -> float:
        """Seconds to hold back the next execution update (0.0 when no rule fires)."""
        if not self.rules:
            return 0.0
        with self._lock:
            return sum(r.delay_s for r in self.rules if r.kind == "ws_delay" and r.fires())

    def ws_disconnect_due(self) -> bool:
        """Whether the WS server should drop the connection now (asked per outgoing message)."""
        if not self.rules:
            return False
        with self._lock:
            fired = [r.fires() for r in self.rules if r.kind == "ws_disconnect"]
        return any(fired)

    def describe(self) -> list[dict[str, Any]]:
        """The rules with how often each matched and fired (for /sim/state)."""
        with self._lock:
            return [dict(rule.spec, seen=rule.seen, fired=rule.fired) for rule in self.rules]
