"""Celery workers: one task module per queue, each task a thin adapter over an Interlock step."""
