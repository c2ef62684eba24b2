"""Outgoing mail: one SMTP conversation per message (``smtp.send``)."""

from dlws_flow.adapters.mail.smtp import MailRefusedError, send

__all__ = ["MailRefusedError", "send"]
