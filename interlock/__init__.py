"""Interlock: a safety controller on the trigger path of data pipelines."""

__version__ = "0.1.0"
