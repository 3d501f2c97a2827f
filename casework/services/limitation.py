"""Limitation clocks per charge line (legal-rules §B): only proven acts reset them."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import date

from ..models import ChargeLine
from .clock import limitation_expiry


def reset(lines: Iterable[ChargeLine], on: date) -> list[int]:
    """Interrupt the clocks of these periods on `on` (民法典 195); returns the ids reset."""
    done = []
    for line in lines:
        if line.balance <= 0:
            continue
        new_expiry = limitation_expiry(on)
        if new_expiry > line.limitation_expiry:
            line.limitation_expiry = new_expiry
            line.limitation_reset_on = on
            done.append(line.id)
    return done
