"""Send one message through the deployment's mail server (``DLWS_SMTP_*``).

A new connection per message: notifications are rare next to a connection's cost, and a long-lived
connection would have to survive the server's idle timeout. ``starttls`` refuses to go on in the clear when
the server does not offer STARTTLS (a man in the middle can strip the offer); the certificate is checked
against the system's trust store plus ``DLWS_SMTP_CA_FILE``, and its name against ``DLWS_SMTP_HOST``.
"""

from __future__ import annotations

import smtplib
import ssl
from email.message import EmailMessage

from dlws_flow.settings import Settings, get_settings


class MailRefusedError(Exception):
    """The server refused the message for good (a 5xx answer): retrying would get the same answer."""


def _tls_context(settings: Settings) -> ssl.SSLContext:
    return ssl.create_default_context(cafile=settings.smtp_ca_file or None)


def _connect(settings: Settings) -> smtplib.SMTP:
    if settings.smtp_security == "tls":
        return smtplib.SMTP_SSL(settings.smtp_host, settings.smtp_port, timeout=settings.smtp_timeout,
                                context=_tls_context(settings))
    client = smtplib.SMTP(settings.smtp_host, settings.smtp_port, timeout=settings.smtp_timeout)
    if settings.smtp_security == "starttls":
        client.ehlo()
        if not client.has_extn("starttls"):
            client.close()
            raise smtplib.SMTPNotSupportedError(f"{settings.smtp_host} does not offer STARTTLS "
                                                "(DLWS_SMTP_SECURITY=starttls); not sending in the clear")
        client.starttls(context=_tls_context(settings))
        client.ehlo()
    return client


def send(message: EmailMessage, settings: Settings | None = None) -> None:
    """Hand ``message`` to the mail server.

    Raises:
        MailRefusedError: the server refused the sender, every recipient or the message (5xx).
        OSError, smtplib.SMTPException: anything else (unreachable, 4xx, TLS): worth a retry.
    """
    settings = settings or get_settings()
    if not settings.smtp_host:
        raise MailRefusedError("no mail server is configured (DLWS_SMTP_HOST)")
    with _connect(settings) as client:
        if settings.smtp_user:
            client.login(settings.smtp_user, settings.smtp_password)
        try:
            refused = client.send_message(message)
        except smtplib.SMTPRecipientsRefused as exc:
            if all(code >= 500 for code, _ in exc.recipients.values()):
                raise MailRefusedError(f"the mail server refused the recipient: {_answers(exc.recipients)}") from exc
            raise
        except (smtplib.SMTPSenderRefused, smtplib.SMTPDataError) as exc:
            if 500 <= exc.smtp_code < 600:
                raise MailRefusedError(f"the mail server refused the message: {exc.smtp_code} {_text(exc.smtp_error)}") from exc
            raise
        if refused:  # some recipients taken, others not: ours is one recipient per message, so not reached
            raise MailRefusedError(f"the mail server refused: {_answers(refused)}")


def _text(raw: bytes | str) -> str:
    return raw.decode(errors="replace") if isinstance(raw, bytes) else str(raw)


def _answers(refused: dict) -> str:
    return "; ".join(f"{who}: {code} {_text(text)}" for who, (code, text) in refused.items())


__all__ = ["MailRefusedError", "send"]
