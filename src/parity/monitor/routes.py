"""Where alerts go: a Slack-compatible webhook, a log, a command.

A route is one small object with a ``name`` and ``deliver(alert)`` taking the alert's
JSON-ready dict; it raises when delivery fails (the dispatcher records the error and
goes on with the other routes).

Example:
    >>> slack_payload({"severity": "warn", "summary": "warn: psi of d:x is 0.12",
    ...                "subject": "d:x", "metric": "psi", "value": 0.12,
    ...                "threshold": 0.1, "at": "2026-01-01T00:00:00+00:00"})["text"]
    ':warning: warn: psi of d:x is 0.12'
"""

from __future__ import annotations

import json
import logging
import os
import subprocess
import urllib.request
from abc import ABC, abstractmethod
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from parity.errors import ConfigError
from parity.monitor.config import RouteSettings

logger = logging.getLogger("parity.monitor.alerts")

_ICON = {"warn": ":warning:", "critical": ":rotating_light:"}
_COLOR = {"warn": "#e0a800", "critical": "#d62728"}


class Route(ABC):
    """One destination for alerts.

    Example:
        >>> LogRoute().name
        'log'
    """

    name: str

    @abstractmethod
    def deliver(self, alert: Mapping[str, Any]) -> None:
        """Send one alert; raise if it could not be delivered."""


def slack_payload(alert: Mapping[str, Any]) -> dict[str, Any]:
    """The body of a Slack incoming-webhook message for ``alert`` (also fine for Mattermost).

    Example:
        >>> sorted(slack_payload({"severity": "critical", "summary": "s"})["attachments"][0])
        ['color', 'fields', 'text', 'title']
    """
    severity = str(alert.get("severity", "warn"))
    fields = [
        {"title": key, "value": str(alert[key]), "short": True}
        for key in ("subject", "metric", "value", "threshold", "at")
        if key in alert
    ]
    return {
        "text": f"{_ICON.get(severity, '')} {alert.get('summary', '')}".strip(),
        "attachments": [
            {
                "color": _COLOR.get(severity, "#999999"),
                "title": f"parity {severity} alert",
                "text": json.dumps(alert.get("evidence", {}), default=str, sort_keys=True)[:3000],
                "fields": fields,
            }
        ],
    }


class WebhookRoute(Route):
    """POST a Slack-compatible JSON message to ``url``; any non-2xx answer is a failure.

    Example:
        >>> WebhookRoute("http://127.0.0.1:9/hook").name
        'webhook'
    """

    def __init__(self, url: str, *, timeout_seconds: float = 10.0) -> None:
        self.name = "webhook"
        self.url = url
        self.timeout_seconds = timeout_seconds

    def deliver(self, alert: Mapping[str, Any]) -> None:
        body = json.dumps(slack_payload(alert)).encode()
        request = urllib.request.Request(
            self.url, data=body, method="POST", headers={"Content-Type": "application/json"}
        )
        with urllib.request.urlopen(request, timeout=self.timeout_seconds) as answer:
            if not 200 <= answer.status < 300:
                raise ConnectionError(f"webhook {self.url} answered {answer.status}")


class LogRoute(Route):
    """Log through ``logging`` (logger ``parity.monitor.alerts``) and, if given, append one
    JSON line per alert to ``path``.

    Example:
        >>> LogRoute(Path("alerts.jsonl")).path.name
        'alerts.jsonl'
    """

    def __init__(self, path: Path | None = None) -> None:
        self.name = "log"
        self.path = path

    def deliver(self, alert: Mapping[str, Any]) -> None:
        level = logging.CRITICAL if alert.get("severity") == "critical" else logging.WARNING
        logger.log(level, "%s", alert.get("summary", ""))
        if self.path is not None:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            with self.path.open("a") as out:
                out.write(json.dumps(dict(alert), default=str, sort_keys=True) + "\n")


class CommandRoute(Route):
    """Run ``argv`` with the alert as JSON on stdin and ``PARITY_ALERT_*`` variables set;
    a non-zero exit or a timeout is a failure.

    Example:
        >>> CommandRoute(["notify-send"]).name
        'command'
    """

    def __init__(self, argv: Sequence[str], *, timeout_seconds: float = 30.0) -> None:
        self.name = "command"
        self.argv = list(argv)
        self.timeout_seconds = timeout_seconds

    def deliver(self, alert: Mapping[str, Any]) -> None:
        env = {
            **os.environ,
            "PARITY_ALERT_SEVERITY": str(alert.get("severity", "")),
            "PARITY_ALERT_SUBJECT": str(alert.get("subject", "")),
            "PARITY_ALERT_SUMMARY": str(alert.get("summary", "")),
        }
        subprocess.run(
            self.argv,
            input=json.dumps(dict(alert), default=str).encode(),
            env=env,
            timeout=self.timeout_seconds,
            check=True,
            capture_output=True,
        )


def build_route(settings: RouteSettings, repo_root: Path) -> Route:
    """The route one ``monitoring.alerts.routes`` entry describes (relative log paths under
    ``repo_root``).

    Example:
        >>> build_route(RouteSettings(type="command", argv=["notify"]), Path(".")).name
        'command'
    """
    if settings.type == "webhook":
        if not settings.url:
            raise ConfigError(
                "monitoring.alerts.routes: a webhook route needs 'url', e.g. "
                "{type: webhook, url: 'https://hooks.slack.com/services/...'}."
            )
        return WebhookRoute(settings.url)
    if settings.type == "command":
        if not settings.argv:
            raise ConfigError(
                "monitoring.alerts.routes: a command route needs 'argv' (a list), e.g. "
                "{type: command, argv: [notify, --team, fraud]}."
            )
        return CommandRoute(settings.argv)
    path = None if settings.path is None else Path(settings.path)
    return LogRoute(None if path is None else path if path.is_absolute() else repo_root / path)
