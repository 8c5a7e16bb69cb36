"""The Redis transport, made to survive a malformed message.

kombu's Redis channel pops an envelope (BRPOP), parses it as JSON and decodes its
body (base64) before Celery sees anything; an error there propagates out of the
worker's event loop and ends the worker ("Unrecoverable error", exit 1: kombu
and Celery issues celery/celery#7975 and #4308). One bad message on the queue
would so stop every worker in turn. Here such a message is dropped (it has
already left the queue and never reached the unacked set, so nothing brings it
back) and logged with an excerpt; the worker goes on with the next one.

Errors from Celery's own handling of a message pass through unchanged.
"""

from __future__ import annotations

import json
import logging
from typing import Any

from kombu.transport import TRANSPORT_ALIASES, redis, virtual
from redis.exceptions import ConnectionError as RedisConnectionError

log = logging.getLogger("creditcycle.broker")
EXCERPT = 200
PAST_PARSE = "creditcycle_past_parse"


class MalformedMessage(Exception):
    """An envelope that parses but is not a message: no properties, a bad body, ..."""

    def __init__(self, payload: object, cause: BaseException) -> None:
        super().__init__(f"{type(cause).__name__}: {cause}")
        self.payload = payload


class Message(virtual.Message):
    def __init__(self, payload: Any, channel: Any = None, **kwargs: Any) -> None:
        try:
            super().__init__(payload, channel=channel, **kwargs)  # type: ignore[no-untyped-call]
        except (ValueError, TypeError, KeyError, AttributeError) as exc:
            # binascii.Error (a ValueError) for a body that is not base64; the others
            # for an envelope that is not an object or lacks its properties
            raise MalformedMessage(payload, exc) from exc


class Channel(redis.Channel):
    Message = Message

    def _connparams(self, asynchronous: bool = False) -> Any:
        """A lost connection is a connection error, never an AttributeError.

        When Redis goes away with messages in flight, Celery collects the connection
        (its transport forgets its client) and then closes this channel; restoring the
        unacked messages, or acking one, builds a new pool from that forgotten client,
        and kombu's own code raises AttributeError ("'NoneType' object has no attribute
        'hostname'"), which Celery does not expect: the worker ends ("Unrecoverable
        error"). As a connection error it is what it is: Celery ignores it while closing,
        logs the ack it could not send, and reconnects; the messages come back after the
        visibility timeout, as any lost worker's do.
        """
        if self.connection is None or self.connection.client is None:
            raise RedisConnectionError("the broker connection was closed")
        return super()._connparams(asynchronous=asynchronous)  # type: ignore[no-untyped-call]

    def _brpop_read(self, **options: Any) -> Any:
        try:
            return super()._brpop_read(**options)  # type: ignore[no-untyped-call]
        except json.JSONDecodeError as exc:
            if getattr(exc, PAST_PARSE, False):
                raise
            _dropped(exc.doc, exc)  # the envelope itself is not JSON
        except MalformedMessage as exc:
            _dropped(exc.payload, exc)
        return True  # a message was read (and dropped): go on polling


def _dropped(payload: object, exc: BaseException) -> None:
    text = payload if isinstance(payload, str) else repr(payload)
    log.error("dropped a malformed message from the broker (%s): %.*s", exc, EXCERPT, text)


class Transport(redis.Transport):
    Channel = Channel

    def _deliver(self, message: Any, queue: str) -> None:
        """Called with the parsed envelope: a JSON error from here on is not the envelope's."""
        try:
            super()._deliver(message, queue)  # type: ignore[no-untyped-call]
        except json.JSONDecodeError as exc:
            setattr(exc, PAST_PARSE, True)
            raise


def install() -> None:
    """``redis://`` and ``rediss://`` URLs name this transport from now on. An alias, not
    Celery's ``broker_transport``, so the broker URL keeps its scheme (Flower's broker
    pages parse it); ``redis+socket://`` keeps kombu's own."""
    for scheme in ("redis", "rediss"):
        TRANSPORT_ALIASES[scheme] = f"{__name__}:Transport"
