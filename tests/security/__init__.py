"""Security checks (issue 5, part 3): Flower authenticated, no pickle, PII masked in logs
and agency handoffs, a Redis password in compose, no secrets in the repository."""
