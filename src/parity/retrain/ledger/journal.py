"""Trigger decisions (with their evidence) and alerts: what the loop decided and why.

Example:
    >>> import tempfile
    >>> from parity.registry.config import SqliteRegistryConfig
    >>> from parity.retrain.database import open_engine
    >>> engine = open_engine(SqliteRegistryConfig(), repo_root=tempfile.mkdtemp())
    >>> from parity.retrain.ledger import Ledger
    >>> ledger = Ledger(engine, project="fraud")
    >>> from datetime import datetime, timedelta, timezone
    >>> now = datetime(2026, 1, 1, tzinfo=timezone.utc)
    >>> ledger.record_decision("m", action="warn", reasons=["drift"], evidence={},
    ...                        now=now)
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Engine

from parity.retrain.database import reading
from parity.retrain.ledger.tables import alerts, decisions


class Journal:
    """The decisions and alerts part of the :class:`~parity.retrain.ledger.Ledger`.

    Example:
        >>> import tempfile
        >>> from parity.registry.config import SqliteRegistryConfig
        >>> from parity.retrain.database import open_engine
        >>> engine = open_engine(SqliteRegistryConfig(), repo_root=tempfile.mkdtemp())
        >>> from parity.retrain.ledger import Ledger
        >>> ledger = Ledger(engine, project="fraud")
        >>> ledger.decisions("fraud_model")
        []
    """

    engine: Engine
    project: str

    def record_decision(
        self,
        model: str,
        *,
        action: str,
        reasons: list[str],
        evidence: Mapping[str, Any],
        now: datetime,
    ) -> None:
        """Store one trigger evaluation with its evidence."""
        with self.engine.begin() as conn:
            conn.execute(
                decisions.insert().values(
                    project=self.project,
                    model=model,
                    at=now,
                    action=action,
                    reasons=reasons,
                    evidence=dict(evidence),
                )
            )

    def decisions(self, model: str) -> list[dict[str, Any]]:
        """Every recorded decision for ``model``, oldest first."""
        with reading(self.engine) as conn:
            rows = (
                conn.execute(
                    sa.select(decisions)
                    .where(decisions.c.project == self.project, decisions.c.model == model)
                    .order_by(decisions.c.id)
                )
                .mappings()
                .all()
            )
        return [dict(r) for r in rows]

    def record_alert(
        self,
        model: str,
        *,
        severity: str,
        message: str,
        evidence: Mapping[str, Any],
        now: datetime,
    ) -> None:
        """Store one alert."""
        with self.engine.begin() as conn:
            conn.execute(
                alerts.insert().values(
                    project=self.project,
                    model=model,
                    at=now,
                    severity=severity,
                    message=message,
                    evidence=dict(evidence),
                )
            )

    def alerts(self, model: str | None = None) -> list[dict[str, Any]]:
        """Recorded alerts, oldest first."""
        query = sa.select(alerts).where(alerts.c.project == self.project).order_by(alerts.c.id)
        if model is not None:
            query = query.where(alerts.c.model == model)
        with reading(self.engine) as conn:
            rows = conn.execute(query).mappings().all()
        return [dict(r) for r in rows]
