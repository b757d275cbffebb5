"""Starting the feature server: uvicorn (uvloop + httptools), one process per core.

Worker processes import :func:`parity.serve.app.app_from_environment`, which opens the
repository named by ``PARITY_REPO``; with several workers the Prometheus metrics of all
of them are aggregated through ``PROMETHEUS_MULTIPROC_DIR`` (a fresh temporary folder).
SIGINT/SIGTERM shut down gracefully: in-flight requests finish, idle keep-alive
connections are drained (:mod:`parity.serve.draining`) and the request log is flushed.

Example:
    >>> run_server("my_repo", port=6566)  # doctest: +SKIP
"""

from __future__ import annotations

import os
import shutil
import tempfile
from pathlib import Path
from typing import Any

from parity.config import load_config
from parity.errors import ConfigError
from parity.serve.app import REPO_ENV
from parity.serve.config import ServerConfig
from parity.serve.metrics import MULTIPROC_ENV


def server_settings(repo_path: str | Path, **overrides: Any) -> tuple[ServerConfig, int]:
    """The repository's ``server:`` config with CLI ``overrides`` (None: keep), and workers.

    Example:
        >>> server_settings("my_repo", port=8080)[0].port  # doctest: +SKIP
        8080
    """
    config = load_config(repo_path).server
    config = config.model_copy(update={k: v for k, v in overrides.items() if v is not None})
    if (config.tls_certfile is None) != (config.tls_keyfile is None):
        raise ConfigError(
            "TLS needs both server.tls_certfile and server.tls_keyfile (or --tls-certfile "
            "and --tls-keyfile); only one was given."
        )
    for path in (config.tls_certfile, config.tls_keyfile):
        if path is not None and not Path(path).is_file():
            raise ConfigError(f"TLS file {path!r} does not exist. Check the path.")
    workers = config.workers or available_cores()
    return config, workers


def available_cores() -> int:
    """CPU cores this process may use: its CPU affinity, capped by a cgroup CPU quota.

    ``os.cpu_count()`` counts the host's cores; in a container limited to 2 CPUs on a
    64-core host it would start 64 workers.

    Example:
        >>> available_cores() >= 1
        True
    """
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else None
    cores = cores or os.cpu_count() or 1
    quota = _cgroup_quota()
    return max(1, min(cores, quota)) if quota is not None else cores


def _cgroup_quota() -> int | None:
    try:
        # cgroup v2: "max 100000" or "<quota> <period>"
        quota, period = Path("/sys/fs/cgroup/cpu.max").read_text().split()[:2]
        if quota != "max":
            return max(1, int(int(quota) / int(period) + 0.5))
    except (OSError, ValueError):
        pass
    try:
        quota_us = int(Path("/sys/fs/cgroup/cpu/cpu.cfs_quota_us").read_text())
        period_us = int(Path("/sys/fs/cgroup/cpu/cpu.cfs_period_us").read_text())
        if quota_us > 0 and period_us > 0:
            return max(1, int(quota_us / period_us + 0.5))
    except (OSError, ValueError):
        pass
    return None


def run_server(
    repo_path: str | Path,
    *,
    log_level: str = "info",
    **overrides: Any,
) -> None:
    """Serve the repository until interrupted (blocks)."""
    import uvicorn

    from parity.serve.draining import DrainingHttpToolsProtocol

    repo = Path(repo_path).resolve()
    config, workers = server_settings(repo, **overrides)
    os.environ[REPO_ENV] = str(repo)
    own_dir = None
    if workers > 1 and not os.environ.get(MULTIPROC_ENV):
        own_dir = tempfile.mkdtemp(prefix="parity-metrics-")
        os.environ[MULTIPROC_ENV] = own_dir
    try:
        uvicorn.run(
            "parity.serve.app:app_from_environment",
            factory=True,
            host=config.host,
            port=config.port,
            workers=workers,
            loop="uvloop",
            http=DrainingHttpToolsProtocol,
            ssl_certfile=config.tls_certfile,
            ssl_keyfile=config.tls_keyfile,
            access_log=config.access_log,
            log_level=log_level,
            timeout_graceful_shutdown=30,
            lifespan="on",
            server_header=False,
        )
    finally:
        if own_dir is not None:
            os.environ.pop(MULTIPROC_ENV, None)
            shutil.rmtree(own_dir, ignore_errors=True)
