"""Limitation clocks per charge line (legal-rules §B): only proven acts reset them."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import date

from ..models import ChargeLine
from .clock import limitation_expiry


def reset(lines: Iterable[ChargeLine], on: date, *, revive: bool = False) -> list[int]:
    """Interrupt the clocks of these periods on `on` (民法典 195); returns the ids reset.

    A period whose clock already ran out stays time-barred (legal-rules B4): a demand cannot
    revive it. Only the owner's own promise to pay after expiry waives the defence
    (民法典 192(2)), which `revive=True` says.
    """
    done = []
    for line in lines:
        if line.balance <= 0 or (line.limitation_expiry < on and not revive):
            continue
        new_expiry = limitation_expiry(on)
        if new_expiry > line.limitation_expiry:
            line.limitation_expiry = new_expiry
            line.limitation_reset_on = on
            done.append(line.id)
    return done
