"""``python -m parity`` runs the command line."""

from parity.cli.main import run

if __name__ == "__main__":
    run()
