"""Who is acting on the registry: the name and context every audit entry records.

Example:
    >>> import os
    >>> os.environ["PARITY_ACTOR"] = "ci-bot"
    >>> current_actor(Path("/nonexistent")).name
    'ci-bot'
    >>> del os.environ["PARITY_ACTOR"]
"""

from __future__ import annotations

import getpass
import os
import socket
import subprocess
from pathlib import Path

from parity.registry.records import Actor


def current_actor(repo_path: Path) -> Actor:
    """``PARITY_ACTOR`` or ``user@host``, with the repository's git commit when it has one.

    Example:
        >>> current_actor(Path(".")).context["host"] == socket.gethostname()
        True
    """
    name = os.environ.get("PARITY_ACTOR") or f"{getpass.getuser()}@{socket.gethostname()}"
    context: dict[str, str] = {"host": socket.gethostname()}
    try:
        commit = subprocess.run(
            ["git", "-C", str(repo_path), "rev-parse", "HEAD"],
            capture_output=True,
            text=True,
            timeout=5,
            check=False,
        )
        if commit.returncode == 0:
            context["git_commit"] = commit.stdout.strip()
    except (OSError, subprocess.SubprocessError):
        pass  # not a git checkout, or no git: the audit entry simply has no commit
    return Actor(name, context)
