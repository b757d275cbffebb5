"""A Python client of the feature server, with the in-process store's read signature.

``Client.get_online_features`` takes the same arguments as
:meth:`parity.FeatureStore.get_online_features` and returns the same
:class:`~parity.retrieval.vectors.OnlineResponse` (``to_vector()``, ``to_dict()``,
``ages()``), so a model switches between an embedded store and a server by changing one
line. One keep-alive connection pool per client; ``httpx`` is imported when a client is built.

An error answer ``{"error": {"type", "message"}}`` is raised as the class its ``type``
names in :data:`parity.errors.PUBLIC_ERRORS` (``ParityError`` for any other): the client
needs the error classes, not the server's status table, so it imports no server code.

Example:
    >>> client = Client("http://127.0.0.1:6566", api_key="pk_...")  # doctest: +SKIP
    >>> client.get_online_features(feature_service="fraud_detection",
    ...                            entity_rows=[{"user_id": 7}]).to_vector()  # doctest: +SKIP
    [[12.5, 'DE', 0.03]]
"""

from __future__ import annotations

import base64
import ssl
from collections.abc import Mapping, Sequence
from datetime import datetime
from types import TracebackType
from typing import Any

from parity.errors import PUBLIC_ERRORS, OnlineStoreUnavailable, ParityError, Transient
from parity.retrieval.vectors import FeatureStatus, OnlineResponse


def _decoder(dtype: str) -> Any:
    if dtype == "bytes":
        return lambda v: None if v is None else base64.b64decode(v)
    if dtype == "timestamp":
        return lambda v: None if v is None else datetime.fromisoformat(v)
    return None


class Client:
    """A feature server client (thread-safe; reuse one per process).

    Example:
        >>> with Client("http://127.0.0.1:6566") as client:  # doctest: +SKIP
        ...     client.get_online_features(features=["user_stats:spend"],
        ...                                entity_rows=[{"user_id": 1}]).to_dict()
        {'user_id': [1], 'spend': [12.5]}
    """

    def __init__(
        self,
        url: str,
        api_key: str | None = None,
        *,
        timeout: float = 5.0,
        verify: bool | str | ssl.SSLContext = True,
    ) -> None:
        import httpx
        import orjson

        headers = {"content-type": "application/json"}
        if api_key:
            headers["authorization"] = f"Bearer {api_key}"
        self.url = url.rstrip("/")
        if isinstance(verify, str):
            # A CA bundle path (e.g. the server's self-signed certificate).
            verify = ssl.create_default_context(cafile=verify)
        self._http = httpx.Client(
            base_url=self.url, headers=headers, timeout=timeout, verify=verify
        )
        self._httpx = httpx
        self._json = orjson

    def _call(self, method: str, path: str, body: Any = None) -> Any:
        content = None if body is None else self._json.dumps(body)
        try:
            reply = self._http.request(method, path, content=content)
        except self._httpx.TransportError as exc:
            raise OnlineStoreUnavailable(
                f"Feature server {self.url} unreachable ({type(exc).__name__}: {exc}). Check the "
                "URL and that 'parity serve' runs."
            ) from exc
        data = self._json.loads(reply.content) if reply.content else None
        if reply.status_code == 422 and isinstance(data, dict) and "rows_rejected" in data:
            return data  # a push whose every row was rejected: the report says why
        if reply.status_code >= 400:
            error = (data or {}).get("error", {}) if isinstance(data, dict) else {}
            cls = PUBLIC_ERRORS.get(error.get("type", ""), ParityError)
            raise cls(error.get("message") or f"{method} {path}: HTTP {reply.status_code}.")
        return data

    def get_online_features(
        self,
        *,
        entity_rows: Sequence[Mapping[str, Any]],
        feature_service: str | None = None,
        features: Sequence[str] | None = None,
        full_feature_names: bool = False,
        now: datetime | None = None,
        deadline_ms: float | None = None,
    ) -> OnlineResponse:
        """Latest valid values for ``entity_rows``, in the service's canonical order."""
        body: dict[str, Any] = {
            "entity_rows": [dict(r) for r in entity_rows],
            "full_feature_names": full_feature_names,
        }
        if feature_service is not None:
            body["feature_service"] = feature_service
        if features is not None:
            body["features"] = list(features)
        if now is not None:
            body["now"] = now.isoformat()
        if deadline_ms is not None:
            body["deadline_ms"] = deadline_ms
        data = self._call("POST", "/get-online-features", body)
        meta = data["metadata"]
        decoders = [_decoder(d) for d in meta["feature_dtypes"]]
        values, statuses, stamps = [], [], []
        for result in data["results"]:
            row = result["values"]
            values.append(
                [v if dec is None else dec(v) for v, dec in zip(row, decoders, strict=True)]
            )
            statuses.append([FeatureStatus(s) for s in result["statuses"]])
            stamps.append(
                [
                    None if t is None else datetime.fromisoformat(t)
                    for t in result["event_timestamps"]
                ]
            )
        return OnlineResponse(
            feature_names=tuple(meta["feature_names"]),
            join_keys=tuple(meta["join_keys"]),
            entity_rows=[dict(r) for r in entity_rows],
            values=values,
            statuses=statuses,
            event_timestamps=stamps,
            served_at=datetime.fromisoformat(meta["served_at"]),
            service=meta["service"],
            service_version=meta["service_version"],
        )

    def push(
        self,
        push_source_name: str,
        rows: Sequence[Mapping[str, Any]],
        *,
        to: str = "online_and_offline",
        push_id: str | None = None,
        retries: int = 3,
        backoff_seconds: float = 0.2,
    ) -> dict[str, Any]:
        """Push rows (timestamps as aware datetimes or ISO strings); returns the report.

        Every call is one push with one ``push_id`` (a new UUID unless given). A transient
        failure (the server unreachable or a 503) is retried with the same id up to
        ``retries`` times, waiting ``backoff_seconds``, then twice as long each time: the
        server applies the push exactly once whichever attempt got through.

        Example:
            >>> client.push("txn_push", [{"user_id": 7, "last_amount": 12.5,
            ...             "event_timestamp": now}])["push_id"]  # doctest: +SKIP
            '5f0c...'
        """
        import time
        import uuid

        if retries < 0 or backoff_seconds < 0:
            raise ValueError(
                f"Client.push: retries={retries} and backoff_seconds={backoff_seconds} must "
                "not be negative (retries=0 sends the push once)."
            )
        body = {
            "push_source_name": push_source_name,
            "rows": [
                {k: v.isoformat() if isinstance(v, datetime) else v for k, v in r.items()}
                for r in rows
            ],
            "to": to,
            "push_id": push_id or uuid.uuid4().hex,
        }
        for attempt in range(retries + 1):
            try:
                result: dict[str, Any] = self._call("POST", "/push", body)
                return result
            except ParityError as exc:
                if not isinstance(exc, Transient) or attempt == retries:
                    raise
                time.sleep(backoff_seconds * 2**attempt)
        raise AssertionError("unreachable")  # the loop returns or raises

    def ready(self) -> dict[str, Any]:
        """The server's readiness report (raises if the server is not ready)."""
        result: dict[str, Any] = self._call("GET", "/ready")
        return result

    def close(self) -> None:
        """Close the connection pool."""
        self._http.close()

    def __enter__(self) -> Client:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()
