"""The lifecycle steps: one implementation that the CLI, Celery tasks and Lambda handlers call."""
