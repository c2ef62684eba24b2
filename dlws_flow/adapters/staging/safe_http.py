"""HTTP requests to user-supplied URLs (http(s) job inputs, webhooks) that reach only allowed addresses.

Checking a URL's host and then letting an HTTP client open it is not enough: the client resolves the name
again (DNS rebinding: the second answer may be ``127.0.0.1``), follows redirects nobody checked, and uses
proxies from the environment. Here one function owns the whole exchange:

1. **Resolve once, check every address.** ``socket.getaddrinfo`` resolves the host; the deployment's
   policy (``dlws_flow.domain.address_policy``, ``DLWS_FETCH_ALLOW`` / ``DLWS_FETCH_DENY``) must allow every
   address it returned, or the request ends with ``AddressNotAllowedError`` before any connection.
2. **Connect to the checked address, and only to it.** Each request goes through an httpx client whose
   transport is an httpcore connection pool with a *pinned network backend*: when httpcore asks it to
   connect to ``(host, port)``, it connects to the addresses checked in step 1 (numeric, so no second DNS
   lookup happens), and it refuses any other host. The request itself is untouched: the URL keeps the host
   name, so httpx sends the right ``Host`` header, and for https httpcore wraps the pinned socket in TLS
   with ``server_hostname`` = the URL's host: SNI is the name and the certificate is verified against the
   name (certifi's roots, httpx's default context), exactly as a plain client would. Nothing has to be
   rewritten, and no ``sni_hostname`` extension is needed because the URL never turns into an IP.
3. **Redirects are followed here, hop by hop** (at most ``MAX_REDIRECTS``), each new URL going through
   steps 1 and 2 again with a fresh pinned client; a redirect to a refused address ends the request with
   ``AddressNotAllowedError`` naming the host the user wrote, not where it pointed.
4. **No ambient routes.** ``trust_env=False`` and an explicit transport: ``HTTP(S)_PROXY``, ``NO_PROXY`` and
   ``.netrc`` from the worker's environment are not used (a proxy would resolve the name itself).

Only the worker log says why an address was refused and what the name resolved to; the error a user sees
says "address not allowed" and the host they wrote, so a refused URL tells nothing about what listens there.
"""

from __future__ import annotations

import functools
import logging
import socket
import ssl
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from ipaddress import ip_address
from typing import Any

import httpcore
import httpx

from dlws_flow.domain.address_policy import (
    Address,
    AddressNotAllowedError,
    AddressPolicy,
    host_as_written,
    normalise,
    policy_from_lists,
)
from dlws_flow.errors import ValidationError
from dlws_flow.settings import get_settings

log = logging.getLogger(__name__)

#: Redirect hops an input may take (a browser allows about 20; a data URL rarely needs more than two).
MAX_REDIRECTS = 10
REDIRECT_CODES = frozenset({301, 302, 303, 307, 308})
DEFAULT_PORTS = {"http": 80, "https": 443}


class RedirectError(ValidationError):
    """A redirect that is not followed: too many hops, or to a URL that is not http(s)."""


def deployment_policy() -> AddressPolicy:
    """The policy of this process's settings (``DLWS_FETCH_ALLOW``, ``DLWS_FETCH_DENY``)."""
    settings = get_settings()
    return policy_from_lists(settings.fetch_allow, settings.fetch_deny)


@functools.cache
def default_ssl_context() -> ssl.SSLContext:
    """httpx's verifying context (certifi roots, ``SSL_CERT_FILE``/``SSL_CERT_DIR`` honoured), built once."""
    return httpx.create_ssl_context()


def resolve(host: str, port: int) -> list[Address]:
    """Every address ``host`` resolves to for TCP, in the resolver's order, without repeats."""
    try:
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM, proto=socket.IPPROTO_TCP)
    except (socket.gaierror, UnicodeError) as exc:
        raise httpx.ConnectError(f"could not resolve {host}: {exc}") from exc
    addresses: list[Address] = []
    for *_, sockaddr in infos:
        address = normalise(ip_address(sockaddr[0]))
        if address not in addresses:
            addresses.append(address)
    return addresses


def checked_addresses(url: httpx.URL, policy: AddressPolicy, user_host: str, redirected: bool) -> list[Address]:
    """Resolve ``url``'s host and return its addresses if the policy allows all of them.

    Raises:
        AddressNotAllowedError: naming ``user_host`` (the host the user wrote); the reason goes to the log.
        httpx.ConnectError: the name does not resolve.
    """
    host = url.raw_host.decode("ascii")
    refusal = policy.literal_refusal(host)  # denied names and refused literals: no DNS query for them
    addresses: list[Address] = []
    if refusal is None:
        addresses = resolve(host, url.port or DEFAULT_PORTS[url.scheme])
        refusal = policy.refusal(host, addresses)
    if refusal is not None:
        log.warning("refused %s%s: %s (resolved to %s)", url, " (a redirect)" if redirected else "", refusal,
                    ", ".join(map(str, addresses)) or "not resolved")
        raise AddressNotAllowedError(user_host, refusal, redirected=redirected)
    return addresses


class PinnedBackend(httpcore.NetworkBackend):
    """An httpcore network backend that connects ``host`` to addresses checked beforehand, and nothing else.

    httpcore passes it the URL's host; it connects to each checked address in turn (numeric addresses never
    reach DNS) and returns the first connection that opens. TLS is started by httpcore on that stream with
    the host name as ``server_hostname``, so certificate checks stay on the name.
    """

    def __init__(self, host: str, addresses: Sequence[Address]) -> None:
        self.host = host
        self.addresses = tuple(addresses)
        self._backend = httpcore.SyncBackend()

    def connect_tcp(self, host: str, port: int, timeout: float | None = None, local_address: str | None = None,
                    socket_options: Any = None) -> httpcore.NetworkStream:
        if host != self.host or not self.addresses:
            raise httpcore.ConnectError(f"no checked address for {host}")  # never falls back to a DNS lookup
        error: Exception | None = None
        for address in self.addresses:
            try:
                return self._backend.connect_tcp(str(address), port, timeout, local_address, socket_options)
            except (httpcore.ConnectError, httpcore.ConnectTimeout) as exc:
                error = exc
        assert error is not None
        raise error

    def connect_unix_socket(self, path: str, timeout: float | None = None,
                            socket_options: Any = None) -> httpcore.NetworkStream:
        raise httpcore.ConnectError("unix sockets are not reachable from user URLs")

    def sleep(self, seconds: float) -> None:
        self._backend.sleep(seconds)


def _as_httpx_error(exc: Exception) -> Exception:
    """httpcore's exception as httpx's of the same name (httpx re-exports each), as httpx's transport does."""
    for cls in type(exc).__mro__:
        mapped = getattr(httpx, cls.__name__, None)
        if isinstance(mapped, type) and issubclass(mapped, httpx.TransportError):
            return mapped(str(exc))
    return exc


@contextmanager
def _httpx_errors() -> Iterator[None]:
    try:
        yield
    except (httpcore.TimeoutException, httpcore.NetworkError, httpcore.ProtocolError, httpcore.UnsupportedProtocol) as exc:
        raise _as_httpx_error(exc) from exc


class _ResponseStream(httpx.SyncByteStream):
    def __init__(self, stream: Any) -> None:
        self._stream = stream

    def __iter__(self) -> Iterator[bytes]:
        with _httpx_errors():
            yield from self._stream

    def close(self) -> None:
        if hasattr(self._stream, "close"):
            self._stream.close()


class PinnedTransport(httpx.BaseTransport):
    """An httpx transport over an httpcore pool whose connections go to checked addresses only."""

    def __init__(self, host: str, addresses: Sequence[Address], ssl_context: ssl.SSLContext) -> None:
        self._pool = httpcore.ConnectionPool(ssl_context=ssl_context, network_backend=PinnedBackend(host, addresses),
                                             max_connections=1)

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        core_request = httpcore.Request(
            method=request.method,
            url=httpcore.URL(scheme=request.url.raw_scheme, host=request.url.raw_host, port=request.url.port,
                             target=request.url.raw_path),
            headers=request.headers.raw, content=request.stream, extensions=request.extensions)
        with _httpx_errors():
            response = self._pool.handle_request(core_request)
        return httpx.Response(status_code=response.status, headers=response.headers,
                              stream=_ResponseStream(response.stream), extensions=response.extensions)

    def close(self) -> None:
        self._pool.close()


def _parse(url: str | httpx.URL) -> httpx.URL:
    try:
        parsed = httpx.URL(url)
    except httpx.InvalidURL as exc:
        raise ValidationError(f"{str(url)[:200]!r} is not a valid URL: {exc}") from exc
    if parsed.scheme not in DEFAULT_PORTS or not parsed.raw_host:
        raise ValidationError(f"{str(url)[:200]!r} is not an http(s) URL with a host")
    return parsed


@contextmanager
def stream(method: str, url: str, *, timeout: float, max_redirects: int = 0, policy: AddressPolicy | None = None,
           ssl_context: ssl.SSLContext | None = None, **request: Any) -> Iterator[httpx.Response]:
    """Send one request to ``url`` (streamed, like ``httpx.stream``) through checked addresses only.

    Args:
        max_redirects: redirects to follow (each hop is checked); 0 hands a 3xx back as it is.
        policy: default: the deployment's (``deployment_policy()``).
        ssl_context: default: httpx's verifying context; tests pass one that trusts their own CA.
        request: ``headers``, ``json``, ``content``: as ``httpx.Client.stream`` takes them.

    Raises:
        AddressNotAllowedError: the host, or a redirect's host, is not allowed (nothing was sent there).
        RedirectError: a redirect to another scheme, more than ``max_redirects`` hops.
        ValidationError: not an http(s) URL.
        httpx.HTTPError: the name did not resolve, or the connection or the exchange failed.
    """
    policy = deployment_policy() if policy is None else policy
    ssl_context = default_ssl_context() if ssl_context is None else ssl_context
    user_host = host_as_written(url)
    current = _parse(url)
    for hop in range(max_redirects + 1):
        addresses = checked_addresses(current, policy, user_host, redirected=hop > 0)
        transport = PinnedTransport(current.raw_host.decode("ascii"), addresses, ssl_context)
        with (httpx.Client(transport=transport, trust_env=False, follow_redirects=False, timeout=timeout) as client,
              client.stream(method, current, **request) as response):
            location = response.headers.get("location")
            if not max_redirects or response.status_code not in REDIRECT_CODES or not location:
                yield response
                return
            if hop == max_redirects:
                raise RedirectError(f"more than {max_redirects} redirects")
            try:
                following = current.join(location)
            except httpx.InvalidURL as exc:
                raise RedirectError("a redirect to an invalid URL") from exc
            if following.scheme not in DEFAULT_PORTS:
                raise RedirectError(f"a redirect to a {following.scheme or 'relative'} URL; only http and https "
                                    "are followed")
        if response.status_code in (301, 302, 303) and method not in ("GET", "HEAD"):
            method = "GET"  # as browsers do; the body is not sent again
            request = {k: v for k, v in request.items() if k not in ("json", "content", "data", "files")}
        current = _parse(following)


__all__ = ["MAX_REDIRECTS", "PinnedBackend", "PinnedTransport", "RedirectError", "deployment_policy", "resolve", "stream"]
