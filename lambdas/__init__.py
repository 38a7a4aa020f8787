"""AWS Lambda handlers: one module per task module of `workers/`, each an adapter over `interlock.steps`."""
