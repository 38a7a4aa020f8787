"""Celery workers: the app, one task per step made from the step registry, the message guard."""
