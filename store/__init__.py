"""Persistence: the schema, its migrations, and every SQL statement of creditcycle."""
