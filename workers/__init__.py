"""The Celery runtime: the app, its tasks, the cycle and its steps, and the worker process."""
