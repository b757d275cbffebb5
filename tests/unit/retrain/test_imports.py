"""Heavy dependencies stay out of ``import parity`` and of the retrain package's import."""

from __future__ import annotations

import subprocess
import sys


def test_retrain_imports_no_heavy_dependency() -> None:
    code = (
        "import sys, parity, parity.retrain.runner, parity.retrain.serving, "
        "parity.retrain.demo_story, parity.retrain.wiring;"
        "print(sorted(m for m in ('mlflow', 'sklearn', 'croniter', 'scipy') if m in sys.modules))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"
