"""The serving plans of recent requests, kept for ``registry_cache_seconds``.

Pins never change, but which version of a service or view *serves* does: a plan is reused
for ``ttl_seconds``, so the read hot path never queries the registry. When the registry
is unreachable an expired plan is still served (pins are immutable: it is right, only
maybe not the newest). The facade owns one cache; the feature server reads through it.

Example:
    >>> cache = ServingPlanCache(lambda: snapshot, ttl_seconds=5.0)  # doctest: +SKIP
    >>> cache.get(feature_service="fraud").service  # doctest: +SKIP
    'fraud'
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence

from parity.errors import RegistryUnreachable
from parity.registry import RegistrySnapshot
from parity.retrieval.resolve import ServingPlan, resolve_serving_plan
from parity.retrieval.transforms import TransformFunctions

MAX_CACHED_PLANS = 1024
"""Bound on the plans kept: clients may send many different feature lists."""

_Key = tuple[str | None, tuple[str, ...] | None, bool]


class ServingPlanCache:
    """Resolved serving plans by request shape, each valid for ``ttl_seconds``.

    ``snapshot`` reads the registry (called only on a miss or an expired entry);
    ``functions`` binds the row transforms of services that have them.

    Example:
        >>> cache = ServingPlanCache(lambda: None, ttl_seconds=1.0)
        >>> len(cache)
        0
    """

    def __init__(
        self,
        snapshot: Callable[[], RegistrySnapshot],
        *,
        ttl_seconds: float,
        functions: TransformFunctions | None = None,
        max_plans: int = MAX_CACHED_PLANS,
    ) -> None:
        self._snapshot = snapshot
        self._ttl = ttl_seconds
        self._functions = functions
        self._max = max_plans
        self._plans: dict[_Key, tuple[float, ServingPlan]] = {}

    def __len__(self) -> int:
        return len(self._plans)

    def get(
        self,
        *,
        feature_service: str | None = None,
        features: Sequence[str] | None = None,
        full_feature_names: bool = False,
    ) -> ServingPlan:
        """The plan of a request: cached, or resolved from a fresh registry snapshot.

        Example:
            >>> cache.get(features=["user_stats:spend"]).output_names  # doctest: +SKIP
            ('spend',)
        """
        key = (feature_service, None if features is None else tuple(features), full_feature_names)
        cached = self._plans.get(key)
        now = time.monotonic()
        if cached is not None and cached[0] > now:
            return cached[1]
        try:
            snapshot = self._snapshot()
        except RegistryUnreachable:
            if cached is not None:
                # Pins are immutable: an expired plan is still right, only maybe not newest.
                return cached[1]
            raise
        plan = resolve_serving_plan(
            snapshot,
            feature_service=feature_service,
            features=features,
            full_feature_names=full_feature_names,
            functions=self._functions,
        )
        if len(self._plans) >= self._max:
            self._plans.clear()
        self._plans[key] = (now + self._ttl, plan)
        return plan

    def clear(self) -> None:
        """Forget every plan: the next request of each shape reads the registry.

        Example:
            >>> ServingPlanCache(lambda: None, ttl_seconds=1.0).clear()
        """
        self._plans.clear()
