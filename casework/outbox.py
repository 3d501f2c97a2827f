"""Outgoing SMS and e-mail through pluggable gateways (a log gateway and SMTP are built in)."""

from __future__ import annotations

import logging
import smtplib
import uuid
from email.message import EmailMessage
from typing import Protocol

from flask import current_app

log = logging.getLogger("casework.outbox")


class Gateway(Protocol):
    name: str

    def send(self, channel: str, recipient: str, body: str) -> str:
        """Send one message; return the provider's id or raise."""


class LogGateway:
    """Writes messages to the log: the default until a real SMS provider is configured."""

    name = "log"

    def send(self, channel: str, recipient: str, body: str) -> str:
        ref = uuid.uuid4().hex[:12]
        log.info("outbox %s to %s [%s]: %s", channel, recipient, ref, body)
        return ref


class SmtpGateway:
    name = "smtp"

    def __init__(self, host: str, port: int, sender: str, user: str | None = None,
                 password: str | None = None, starttls: bool = False) -> None:
        self.host, self.port, self.sender = host, port, sender
        self.user, self.password, self.starttls = user, password, starttls

    def send(self, channel: str, recipient: str, body: str) -> str:
        msg = EmailMessage()
        msg["From"], msg["To"], msg["Subject"] = self.sender, recipient, "物业服务费缴费提醒"
        msg.set_content(body)
        with smtplib.SMTP(self.host, self.port, timeout=30) as smtp:
            if self.starttls:
                smtp.starttls()
            if self.user:
                smtp.login(self.user, self.password or "")
            smtp.send_message(msg)
        return msg.get("Message-ID") or uuid.uuid4().hex[:12]


def gateway_for(channel: str) -> Gateway:
    """The gateway configured for a channel (OUTBOX_<CHANNEL>_GATEWAY: log or smtp)."""
    cfg = current_app.config
    name = cfg.get(f"OUTBOX_{channel.upper()}_GATEWAY", "log")
    if name == "smtp":
        return SmtpGateway(cfg.get("SMTP_HOST", "localhost"), int(cfg.get("SMTP_PORT", 25)),
                           cfg.get("SMTP_SENDER", "noreply@example.com"),
                           cfg.get("SMTP_USER"), cfg.get("SMTP_PASSWORD"),
                           bool(cfg.get("SMTP_STARTTLS")))
    return LogGateway()
