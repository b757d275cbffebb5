"""The ``parity`` command line (typer + rich)."""
