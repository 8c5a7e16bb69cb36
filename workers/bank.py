"""Which bank channel a process debits: the bank over HTTP, or the in-database simulator.

A deployment names its bank (``CREDITCYCLE_BANK_URL`` and ``CREDITCYCLE_BANK_SECRET``,
timeouts ``CREDITCYCLE_BANK_CONNECT_TIMEOUT``/``_READ_TIMEOUT``): the channel is
``adapters.bank_http.HttpBank``, and the drills and the demo point it at the simulator
process (``creditcycle bank-sim``). Only a local demo, the scenario runner and tests
that ask for it (``CREDITCYCLE_LOCAL_BANK=1``, set by ``--local-demo``) debit the
simulator kept in creditcycle's own database (``store.debits.SimulatedBank``). With
neither, a worker refuses to start, naming the variable.
"""

from __future__ import annotations

import logging
import sys
from collections.abc import Callable

from domain.bank import (  # the channel's types live in domain; importable from here too
    DEBITED,
    FAILED,
    PENDING,
    UNKNOWN,
    BankChannel,
    ChannelTimeout,
    DebitRequest,
    DebitResult,
    query_defect,
)
from domain.config import ConfigError
from store.debits import SimulatedBank
from store.engine import Engine
from workers.settings import Settings

__all__ = ["DEBITED", "FAILED", "PENDING", "UNKNOWN", "BankChannel", "ChannelTimeout",
           "DebitRequest", "DebitResult", "SimulatedBank", "believed", "make_channel",
           "refusal", "require_bank"]

log = logging.getLogger("creditcycle.bank")

NO_BANK = ("is required outside a local demo (the bank that debits the cards, e.g. "
           "http://127.0.0.1:8800 for `creditcycle bank-sim`): set it and "
           "CREDITCYCLE_BANK_SECRET, or pass --local-demo")


def refusal(env: Settings) -> ConfigError | None:
    """Why this process has no usable bank, or None."""
    if env.bank_url:
        if env.bank_secret is None or not env.bank_secret.get_secret_value():
            return ConfigError("CREDITCYCLE_BANK_SECRET", "is required with "
                               "CREDITCYCLE_BANK_URL (it signs every call to the bank)")
        return None
    if env.local_bank:
        return None
    return ConfigError("CREDITCYCLE_BANK_URL", NO_BANK)


def make_channel(env: Settings, engine: Callable[[], Engine]) -> BankChannel:
    """The channel ``env`` configures; raises the :func:`refusal` when there is none."""
    why = refusal(env)
    if why is not None:
        raise why
    if env.bank_url and env.bank_secret is not None:
        from adapters.bank_http import HttpBank, Timeouts
        from workers import metrics

        return HttpBank(env.bank_url, env.bank_secret.get_secret_value(),
                        timeouts=Timeouts(connect=env.bank_connect_timeout,
                                          read=env.bank_read_timeout),
                        observe=metrics.bank_call)
    return SimulatedBank(engine())


def require_bank(env: Settings) -> None:
    """End a starting worker with one line naming the variable when no bank is set."""
    why = refusal(env)
    if why is not None:
        print(f"error: {why}", file=sys.stderr)
        raise SystemExit(2)


def believed(amount: int, result: DebitResult) -> bool:
    """Whether a query's answer about a debit of ``amount`` may be applied (see
    :func:`domain.bank.query_defect`); a refused one is logged and leaves it pending."""
    defect = query_defect(result, amount)
    if defect is not None:
        log.error("bank /debits/query: the answer for key %r refused: %s; left pending",
                  result.key, defect)
    return defect is None
