"""The outside world behind the protocols of ``domain``: the bank's HTTP client and the
bank simulator (a service of its own). Nothing here touches creditcycle's database."""
