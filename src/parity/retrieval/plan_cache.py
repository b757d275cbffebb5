"""The serving plans of recent requests: stale-while-revalidate over the registry.

Pins never change, but which version of a service or view *serves* does. The cache keeps
the last registry snapshot and every plan resolved from it:

- a plan younger than ``ttl_seconds`` is served as is;
- an older plan, up to ``max_stale_seconds``, is still served at once while one refresh
  runs in a background thread (one at a time, whatever the number of request shapes);
- a plan older than that, or a request shape never seen, waits for the refresh, at most
  ``wait_seconds``; if the registry does not answer, the read fails with
  ``RegistryUnreachable`` (503) naming the age and the bound.

Pins are immutable, so a stale plan is right, only maybe not the newest: the bound says
how long a process may keep serving what the registry said last (``registry_max_staleness_seconds``
in ``parity.yaml``, exported as ``parity_serving_plan_age_seconds``). No caller ever
blocks on the registry inside :meth:`ServingPlanCache.lookup`; the feature server calls it
on its event loop and awaits :meth:`ServingPlanCache.refresh` only on a miss.

Example:
    >>> cache = ServingPlanCache(lambda: snapshot, ttl_seconds=5.0)  # doctest: +SKIP
    >>> cache.get(feature_service="fraud").service  # doctest: +SKIP
    'fraud'
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Sequence
from concurrent.futures import Future
from concurrent.futures import TimeoutError as FutureTimeout

from parity.errors import RegistryUnreachable
from parity.registry import RegistrySnapshot
from parity.retrieval.resolve import ServingPlan, resolve_serving_plan
from parity.retrieval.transforms import TransformFunctions

MAX_CACHED_PLANS = 1024
"""Bound on the plans kept: clients may send many different feature lists."""

MAX_HUNG_REFRESHES = 4
"""Refresh threads given up on (a frozen network path) that may still be alive at once."""

PlanKey = tuple[str | None, tuple[str, ...] | None, bool]


def plan_key(
    feature_service: str | None, features: Sequence[str] | None, full_feature_names: bool
) -> PlanKey:
    """The cache key of a request shape.

    Example:
        >>> plan_key("fraud", None, False)
        ('fraud', None, False)
    """
    return (feature_service, None if features is None else tuple(features), full_feature_names)


class ServingPlanCache:
    """Resolved serving plans by request shape, refreshed in the background.

    ``snapshot`` reads the registry (only ever from a refresh thread or :meth:`get`);
    ``functions`` binds the row transforms of services that have them.

    Example:
        >>> cache = ServingPlanCache(lambda: None, ttl_seconds=1.0)
        >>> len(cache), cache.age_seconds()
        (0, None)
    """

    def __init__(
        self,
        snapshot: Callable[[], RegistrySnapshot],
        *,
        ttl_seconds: float,
        max_stale_seconds: float = 3600.0,
        wait_seconds: float = 5.0,
        functions: TransformFunctions | None = None,
        max_plans: int = MAX_CACHED_PLANS,
    ) -> None:
        self._snapshot = snapshot
        self.ttl_seconds = ttl_seconds
        self.max_stale_seconds = max(max_stale_seconds, ttl_seconds)
        self.wait_seconds = wait_seconds
        self._functions = functions
        self._max = max_plans
        self._lock = threading.Lock()
        # Each plan with the monotonic time of the snapshot it was resolved from.
        self._plans: dict[PlanKey, tuple[float, ServingPlan]] = {}
        self._latest: tuple[float, RegistrySnapshot] | None = None
        self._refresh: Future[RegistrySnapshot] | None = None
        self._refresh_started = 0.0
        self._hung: list[threading.Thread] = []
        self.last_error: BaseException | None = None

    def __len__(self) -> int:
        return len(self._plans)

    def age_seconds(self) -> float | None:
        """Seconds since the registry last answered (None: it never did in this process).

        Example:
            >>> ServingPlanCache(lambda: None, ttl_seconds=1.0).age_seconds() is None
            True
        """
        latest = self._latest
        return None if latest is None else time.monotonic() - latest[0]

    def latest(self) -> RegistrySnapshot | None:
        """The last registry snapshot, if it is within ``max_stale_seconds`` (never waits).

        Example:
            >>> ServingPlanCache(lambda: None, ttl_seconds=1.0).latest() is None
            True
        """
        latest = self._latest
        if latest is None:
            return None
        age = time.monotonic() - latest[0]
        if age >= self.ttl_seconds:
            self.refresh()
        return latest[1] if age < self.max_stale_seconds else None

    def lookup(
        self,
        *,
        feature_service: str | None = None,
        features: Sequence[str] | None = None,
        full_feature_names: bool = False,
    ) -> ServingPlan | None:
        """The plan of a request if it can be served now; never waits on the registry.

        Starts a background refresh when the plan is older than ``ttl_seconds``. None means
        the caller must wait for :meth:`refresh` (plan never resolved, or too stale).

        Example:
            >>> cache.lookup(feature_service="fraud")  # doctest: +SKIP
        """
        key = plan_key(feature_service, features, full_feature_names)
        now = time.monotonic()
        entry = self._plans.get(key)
        if entry is not None:
            age = now - entry[0]
            if age < self.ttl_seconds:
                return entry[1]
            self.refresh()
            return entry[1] if age < self.max_stale_seconds else None
        latest = self._latest
        if latest is not None and now - latest[0] < self.max_stale_seconds:
            if now - latest[0] >= self.ttl_seconds:
                self.refresh()
            # CPU only; raises FeatureServiceNotFound and the like for a bad request.
            return self._resolve(key, latest[0], latest[1])
        self.refresh()
        return None

    def refresh(self) -> Future[RegistrySnapshot]:
        """The running registry refresh, or a new one in a daemon thread.

        A refresh that has run longer than ``wait_seconds`` is given up on (a frozen
        network path); at most :data:`MAX_HUNG_REFRESHES` such threads live at once.

        Example:
            >>> cache.refresh().result(timeout=5)  # doctest: +SKIP
        """
        with self._lock:
            running = self._refresh
            now = time.monotonic()
            if running is not None and not running.done():
                if now - self._refresh_started < self.wait_seconds:
                    return running
                self._hung = [t for t in self._hung if t.is_alive()]
                if len(self._hung) >= MAX_HUNG_REFRESHES:
                    return running
            future: Future[RegistrySnapshot] = Future()
            thread = threading.Thread(
                target=self._run_refresh, args=(future,), name="parity-plan-refresh", daemon=True
            )
            self._hung.append(thread)
            self._refresh, self._refresh_started = future, now
        thread.start()
        return future

    def _run_refresh(self, future: Future[RegistrySnapshot]) -> None:
        started = time.monotonic()
        try:
            snapshot = self._snapshot()
        except BaseException as exc:  # handed to every waiter, whatever it is
            self.last_error = exc
            future.set_exception(exc)
            return
        with self._lock:
            if self._latest is None or self._latest[0] <= started:
                self._latest = (started, snapshot)
                # Re-resolve every known shape; a shape that no longer resolves is dropped.
                for key in list(self._plans):
                    try:
                        self._plans[key] = (started, self._plan(key, snapshot))
                    except Exception:
                        self._plans.pop(key, None)
        self.last_error = None
        future.set_result(snapshot)

    def _plan(self, key: PlanKey, snapshot: RegistrySnapshot) -> ServingPlan:
        return resolve_serving_plan(
            snapshot,
            feature_service=key[0],
            features=key[1],
            full_feature_names=key[2],
            functions=self._functions,
        )

    def _resolve(self, key: PlanKey, at: float, snapshot: RegistrySnapshot) -> ServingPlan:
        plan = self._plan(key, snapshot)
        if len(self._plans) >= self._max:
            self._plans.clear()
        self._plans[key] = (at, plan)
        return plan

    def get(
        self,
        *,
        feature_service: str | None = None,
        features: Sequence[str] | None = None,
        full_feature_names: bool = False,
    ) -> ServingPlan:
        """The plan of a request for a caller that may block (the SDK): a plan older than
        ``ttl_seconds`` waits for the refresh (at most ``wait_seconds``) and is served as it
        was only if the registry does not answer and it is within ``max_stale_seconds``.

        Example:
            >>> cache.get(features=["user_stats:spend"]).output_names  # doctest: +SKIP
            ('spend',)
        """
        key = plan_key(feature_service, features, full_feature_names)
        entry = self._plans.get(key)
        now = time.monotonic()
        if entry is not None and now - entry[0] < self.ttl_seconds:
            return entry[1]
        latest = self._latest
        if entry is None and latest is not None and now - latest[0] < self.ttl_seconds:
            return self._resolve(key, latest[0], latest[1])
        try:
            self.wait(self.refresh())
        except RegistryUnreachable:
            plan = self.lookup(
                feature_service=feature_service,
                features=features,
                full_feature_names=full_feature_names,
            )
            if plan is None:
                raise
            return plan  # pins are immutable: right, only maybe not the newest
        latest = self._latest
        assert latest is not None
        fresh = self._plans.get(key)
        if fresh is not None and fresh[0] >= latest[0]:
            return fresh[1]
        return self._resolve(key, latest[0], latest[1])

    def wait(self, refresh: Future[RegistrySnapshot]) -> None:
        """Wait for ``refresh`` at most ``wait_seconds``; ``RegistryUnreachable`` otherwise.

        Example:
            >>> cache.wait(cache.refresh())  # doctest: +SKIP
        """
        try:
            refresh.result(timeout=self.wait_seconds)
        except FutureTimeout:
            raise self.unreachable(None) from None
        except RegistryUnreachable as exc:
            raise self.unreachable(exc) from exc

    def unreachable(self, cause: BaseException | None) -> RegistryUnreachable:
        """The error of a read that cannot be served without the registry.

        Example:
            >>> ServingPlanCache(lambda: None, ttl_seconds=1.0).unreachable(None).args[0][:24]
            'The registry did not ans'
        """
        age = self.age_seconds()
        reason = (
            f"The registry did not answer within {self.wait_seconds:g} s"
            if cause is None
            else str(cause).rstrip(".")
        )
        held = (
            "no serving plan was ever read in this process"
            if age is None
            else f"the last registry answer is {age:.0f} s old, over the "
            f"{self.max_stale_seconds:g} s bound (registry_max_staleness_seconds)"
        )
        return RegistryUnreachable(
            f"{reason}; {held}. Bring the registry back, or raise "
            "registry_max_staleness_seconds in parity.yaml to serve older plans longer."
        )

    def clear(self) -> None:
        """Forget every plan and snapshot: the next request of each shape reads the registry.

        Example:
            >>> ServingPlanCache(lambda: None, ttl_seconds=1.0).clear()
        """
        with self._lock:
            self._plans.clear()
            self._latest = None
