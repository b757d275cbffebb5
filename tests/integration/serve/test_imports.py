"""``import parity`` (and the client module) never imports the server stack."""

from __future__ import annotations

import subprocess
import sys


def test_import_parity_and_the_client_module_do_not_import_the_server_stack() -> None:
    code = (
        "import sys, parity, parity.client; "
        "heavy = ('starlette', 'uvicorn', 'prometheus_client', 'httpx', 'orjson', 'uvloop'); "
        "print(','.join(m for m in heavy if m in sys.modules))"
    )
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True
    )
    assert result.stdout.strip() == ""
