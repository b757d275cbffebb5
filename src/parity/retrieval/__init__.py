"""Reading features online: what every caller (the SDK, the feature server) reads through.

- ``resolve``: a request (a feature service or feature references) resolved to pinned view
  versions and a canonical column order, a :class:`~parity.retrieval.resolve.ServingPlan`;
- ``plan_cache``: those plans, kept for ``registry_cache_seconds`` (one cache per store);
- ``vectors``: one backend read for all views, assembled into an
  :class:`~parity.retrieval.vectors.OnlineResponse` with statuses, timestamps and ages;
- ``transforms``: a service's row transforms, the same code offline and online;
- ``reading``: reads under a deadline (a thread per view version) and fail-fast after an
  online store failure, for request handlers.

It imports no HTTP code and not the :class:`~parity.FeatureStore` facade.

Example:
    >>> from parity.retrieval.vectors import FeatureStatus
    >>> FeatureStatus.PRESENT.value
    'present'
"""
