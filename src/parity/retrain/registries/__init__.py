"""Model registries: the built-in one (registry database + files) and MLflow.

Example:
    >>> from parity.retrain.registries.base import CHAMPION
    >>> CHAMPION
    'champion'
"""
