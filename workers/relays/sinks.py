"""Each relay's sink, from the settings (``CREDITCYCLE_SINK_*``), one per process."""

from __future__ import annotations

import os

from adapters.sinks import sink_for
from domain.outbox import RelayName, Sink
from workers import settings

SECRET_ENV = "CREDITCYCLE_SINK_SECRET"  # noqa: S105 - the variable's name, not a secret
ENV = {"notifications": "CREDITCYCLE_SINK_NOTIFICATIONS",
       "agencies": "CREDITCYCLE_SINK_AGENCIES", "bureau": "CREDITCYCLE_SINK_BUREAU"}
_made: dict[tuple[int, str, str], Sink] = {}


def sink(relay: RelayName) -> Sink | None:
    """``relay``'s sink, or None when its variable is unset (its rows wait). The settings
    have validated the URL; a forked process makes its own (no shared sockets)."""
    conf = settings.get()
    url = conf.sink_url(relay)
    if url is None:
        return None
    cache_key = (os.getpid(), relay, url)
    found = _made.get(cache_key)
    if found is None:
        secret = conf.sink_secret.get_secret_value() if conf.sink_secret else None
        found = _made[cache_key] = sink_for(url, secret, field=ENV[relay],
                                            secret_field=SECRET_ENV)
    return found


__all__ = ["ENV", "sink"]
