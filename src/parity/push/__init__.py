"""Pushing rows: validation, the idempotency ledger, the Delta append, stream publishing.

Every caller pushes through :class:`parity.push.apply.Pusher` (``FeatureStore.push``,
the feature server's ``/push``), which takes its collaborators explicitly: the online
store, :class:`~parity.push.config.PushSettings` and a quality observer. Modules:
``request`` (the push body and its answer), ``plan`` (where a push source's rows go),
``ledger`` (idempotency records), ``apply`` (the transaction), ``publish`` (pushes to
aggregation views, through their stream), ``config`` (``server.push``).

The package imports nothing of the HTTP server, and ``import parity`` loads only
``parity.push.config`` (the server's configuration embeds it).

Example:
    >>> from parity.push.config import PushConfig
    >>> PushConfig().streams
    {}
"""
