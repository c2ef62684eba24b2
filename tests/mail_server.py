"""A real SMTP server for the tests (aiosmtpd): STARTTLS with its own certificate, login required after
TLS, every accepted message kept for the tests to read. The deployment under test reaches it through the
same ``DLWS_SMTP_*`` settings an operator sets."""

from __future__ import annotations

import datetime
import ipaddress
import socket
import ssl
import threading
import time
from collections.abc import Callable
from email import message_from_bytes, policy
from email.message import EmailMessage
from pathlib import Path

from aiosmtpd.controller import Controller
from aiosmtpd.smtp import AuthResult, LoginPassword
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

USER, PASSWORD = "dlws-mailer", "mail-secret"
#: Recipients the server refuses for good (550), as a real server refuses an unknown mailbox.
UNKNOWN_DOMAIN = "@nobody.invalid"
#: Recipients whose first message the server refuses for now (451, as greylisting does): the sender retries.
FLAKY_PREFIX = "flaky-"


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def write_certificate(folder: Path) -> tuple[Path, Path]:
    """A self-signed certificate for 127.0.0.1 and localhost; returns (certificate, key) paths."""
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "dlws-test-smtp")])
    now = datetime.datetime.now(datetime.UTC)
    certificate = (x509.CertificateBuilder().subject_name(name).issuer_name(name).public_key(key.public_key())
                   .serial_number(x509.random_serial_number())
                   .not_valid_before(now - datetime.timedelta(minutes=5)).not_valid_after(now + datetime.timedelta(days=2))
                   .add_extension(x509.SubjectAlternativeName([x509.DNSName("localhost"),
                                                               x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]),
                                  critical=False)
                   .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
                   .sign(key, hashes.SHA256()))
    cert_path, key_path = folder / "smtp-cert.pem", folder / "smtp-key.pem"
    cert_path.write_bytes(certificate.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                           serialization.NoEncryption()))
    return cert_path, key_path


class _Handler:
    def __init__(self, server: MailServer) -> None:
        self.server = server

    async def handle_RCPT(self, server, session, envelope, address, rcpt_options):
        if address.endswith(UNKNOWN_DOMAIN):
            return "550 5.1.1 no such mailbox"
        if address.startswith(FLAKY_PREFIX) and address not in self.server.refused_once:
            self.server.refused_once.add(address)
            return "451 4.7.1 greylisted, try again later"
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server, session, envelope):
        message = message_from_bytes(envelope.content, policy=policy.default)
        self.server.received(message, list(envelope.rcpt_tos), tls=session.ssl is not None)
        return "250 Message accepted for delivery"


def _authenticate(server, session, envelope, mechanism, auth_data) -> AuthResult:
    ok = isinstance(auth_data, LoginPassword) and auth_data.login == USER.encode() and auth_data.password == PASSWORD.encode()
    return AuthResult(success=ok, handled=False)


class MailServer:
    """Start with ``start()``; ``messages_to(address)`` waits for what arrived for an address."""

    def __init__(self, folder: Path, port: int) -> None:
        self.cert, self.key = write_certificate(folder)
        self.port = port
        self.messages: list[tuple[EmailMessage, list[str], bool]] = []
        self.refused_once: set[str] = set()
        self._arrived = threading.Condition()
        context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        context.load_cert_chain(self.cert, self.key)
        self.controller = Controller(_Handler(self), hostname="127.0.0.1", port=port, tls_context=context,
                                     require_starttls=True, auth_require_tls=True, authenticator=_authenticate,
                                     auth_required=True)

    def start(self) -> None:
        self.controller.start()

    def stop(self) -> None:
        self.controller.stop()

    def received(self, message: EmailMessage, recipients: list[str], tls: bool) -> None:
        with self._arrived:
            self.messages.append((message, recipients, tls))
            self._arrived.notify_all()

    def messages_to(self, address: str, count: int = 1, timeout: float = 90.0,
                    until: Callable[[list[EmailMessage]], bool] | None = None) -> list[EmailMessage]:
        """The messages for ``address`` once ``count`` have arrived (or once ``until`` holds of them)."""
        done = until or (lambda found: len(found) >= count)
        deadline = time.monotonic() + timeout
        with self._arrived:
            while True:
                found = [message for message, recipients, _ in self.messages if address in recipients]
                if done(found):
                    return found
                left = deadline - time.monotonic()
                if left <= 0:
                    raise AssertionError(f"{len(found)} messages arrived for {address} in {timeout:g} s: "
                                         f"{[m['Subject'] for m in found]}")
                self._arrived.wait(left)

    def all_over_tls(self) -> bool:
        return all(tls for _, _, tls in self.messages)
