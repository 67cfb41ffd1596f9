"""One careful HTTP GET for pages and feeds that belong to someone else.

- Only http(s), and every redirect is checked again.
- No server-side request forgery: each connection resolves the host, refuses it when any address is
  loopback, private, link-local or otherwise not public (unless ``CITEBOT_ALLOW_PRIVATE_URLS=1``), and
  connects to an address it checked, so a name cannot resolve differently between check and use.
  Proxies from the environment are not used, since a proxy would do its own resolving.
- A total deadline: a timer shuts the socket when it passes, so a server trickling one byte a second,
  or never finishing its headers, cannot hold the download longer than the deadline.
- A size cap enforced while reading, and conditional GET (ETag / Last-Modified) for feeds.
"""

from __future__ import annotations

import contextlib
import functools
import http.client
import ipaddress
import logging
import socket
import threading
import urllib.error
import urllib.parse
import urllib.request
from dataclasses import dataclass
from typing import Any

from bot.errors import PrivateAddressError, SourceError

log = logging.getLogger(__name__)

TIMEOUT_SECONDS = 20.0
READ_BLOCK = 64 * 1024
USER_AGENT = "citebot/0.1 (fetches articles and feeds its users asked for)"
WEB_SCHEMES = {"http": 80, "https": 443}
DEFAULT_TIMEOUT: Any = getattr(socket, "_GLOBAL_DEFAULT_TIMEOUT")  # noqa: B009  what http.client passes
PRIVATE_HINT = "Set CITEBOT_ALLOW_PRIVATE_URLS=1 only if this machine should fetch from its own network."
# IPv6 forms that carry an IPv4 address in their last 32 bits (IPv4-compatible, IPv4-translated, NAT64),
# and NAT64's local-use prefix, where that address's place depends on the network.
IPV4_IN_LAST_BITS = tuple(ipaddress.IPv6Network(prefix) for prefix in ("::/96", "::ffff:0:0:0/96", "64:ff9b::/96"))
LOCAL_NAT64 = ipaddress.IPv6Network("64:ff9b:1::/48")


@dataclass(frozen=True)
class Download:
    """A response body and what its headers say; ``not_modified`` when the server answered 304."""

    url: str
    body: bytes
    content_type: str
    charset: str | None
    etag: str | None
    last_modified: str | None
    not_modified: bool = False


def normalise_url(url: str) -> str:
    """The one spelling of an address: scheme and host lower-cased, default port and ``#fragment``
    dropped, an empty path as ``/``; so the same page is never saved twice under two spellings."""
    try:
        parts = urllib.parse.urlsplit(url.strip())
        port = parts.port
    except ValueError:
        raise SourceError(f"{url!r} is not a valid web address. Check it and try again.") from None
    scheme = parts.scheme.lower()
    if scheme not in WEB_SCHEMES:
        raise SourceError(f"Only http:// and https:// addresses can be added, not {url!r}. For a file, give its path.")
    host = (parts.hostname or "").lower()
    if not host:
        raise SourceError(f"{url!r} names no host. Give a full address such as https://example.org/news.")
    if ":" in host:
        host = f"[{host}]"
    netloc = host if port in (None, WEB_SCHEMES[scheme]) else f"{host}:{port}"
    if "@" in parts.netloc:
        netloc = parts.netloc.rsplit("@", 1)[0] + "@" + netloc
    return urllib.parse.urlunsplit((scheme, netloc, parts.path or "/", parts.query, ""))


def download(
    url: str,
    *,
    max_bytes: int,
    allow_private: bool,
    accept: str = "text/html,*/*;q=0.8",
    etag: str | None = None,
    last_modified: str | None = None,
    timeout: float | None = None,
) -> Download:
    """GET ``url`` within ``timeout`` seconds in all (TIMEOUT_SECONDS by default) and ``max_bytes``;
    a user error otherwise."""
    url = normalise_url(url)
    timeout = timeout or TIMEOUT_SECONDS
    guard = _Guard(allow_private, timeout)
    opener = urllib.request.build_opener(
        urllib.request.ProxyHandler({}), _GuardedHTTPHandler(guard), _GuardedHTTPSHandler(guard), _WebRedirects()
    )
    headers = {"User-Agent": USER_AGENT, "Accept": accept}
    if etag:
        headers["If-None-Match"] = etag
    if last_modified:
        headers["If-Modified-Since"] = last_modified
    guard.start()
    try:
        with opener.open(urllib.request.Request(url, headers=headers), timeout=timeout) as response:
            body = _read_body(response, url, max_bytes)
            if guard.expired.is_set():
                raise _too_slow(url, timeout)
            return Download(
                url=normalise_url(response.geturl()),
                body=body,
                content_type=response.headers.get_content_type() if response.headers.get("Content-Type") else "",
                charset=response.headers.get_content_charset(),
                etag=response.headers.get("ETag"),
                last_modified=response.headers.get("Last-Modified"),
            )
    except SourceError:
        raise
    except urllib.error.HTTPError as error:
        if error.code == 304:
            return Download(url, b"", "", None, etag, last_modified, not_modified=True)
        if 300 <= error.code < 400:  # urllib gave up following: a loop, or too many redirects
            raise SourceError(f"{url} redirects in a loop or too many times. Check the address.") from None
        raise SourceError(f"{url} answered {error.code} {one_line(str(error.reason))}. Check the address.") from None
    except Exception as error:
        if guard.expired.is_set():
            raise _too_slow(url, timeout) from None
        if isinstance(error, urllib.error.URLError):
            reason = error.reason
            if isinstance(reason, SourceError):
                raise reason from None
            raise SourceError(
                f"Could not reach {url} ({one_line(str(reason))}). Check the address and the connection."
            ) from None
        if isinstance(error, TimeoutError):
            raise _too_slow(url, timeout) from None
        if isinstance(error, OSError | ValueError | http.client.HTTPException):
            raise SourceError(f"Could not fetch {url} ({one_line(str(error))}). Check the address.") from None
        raise
    finally:
        guard.stop()


def one_line(text: str) -> str:
    """A library's or a server's words for an error, on one line (urllib's redirect loop takes three)."""
    return " ".join(text.split())


def check_public(host: str, address: str) -> None:
    """Refuse an address that is not on the public internet (loopback, private, link-local, ...), also
    when an IPv6 form carries a non-public IPv4 address."""
    ip = ipaddress.ip_address(address.split("%", 1)[0])
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped:
        ip = ip.ipv4_mapped
    carried = embedded_ipv4(ip) if isinstance(ip, ipaddress.IPv6Address) else None
    local_nat64 = isinstance(ip, ipaddress.IPv6Address) and ip in LOCAL_NAT64
    if local_nat64 or not all(each.is_global and not each.is_multicast for each in (ip, carried) if each):
        shown = f"{ip} ({carried})" if carried else str(ip)
        raise PrivateAddressError(
            f"{host} resolves to {shown}, a loopback, private or link-local address; citebot does not fetch "
            f"from those. {PRIVATE_HINT}"
        )


def embedded_ipv4(ip: ipaddress.IPv6Address) -> ipaddress.IPv4Address | None:
    """The IPv4 address an IPv6 address stands for: mapped, compatible, translated, NAT64, 6to4 or Teredo."""
    if ip.ipv4_mapped or ip.sixtofour:
        return ip.ipv4_mapped or ip.sixtofour
    if ip.teredo:
        return ip.teredo[1]
    if any(ip in network for network in IPV4_IN_LAST_BITS) and not (ip.is_loopback or ip.is_unspecified):
        return ipaddress.IPv4Address(int(ip) & 0xFFFFFFFF)
    return None


def _read_body(response: http.client.HTTPResponse, url: str, max_bytes: int) -> bytes:
    """The body, read as it arrives (``read1`` returns after one receive, so the deadline is
    checked often even when a server trickles), never more than ``max_bytes``."""
    declared = response.headers.get("Content-Length")
    if declared and declared.isdigit() and int(declared) > max_bytes:
        raise too_large(url, max_bytes)
    chunks: list[bytes] = []
    size = 0
    while block := response.read1(READ_BLOCK):
        size += len(block)
        if size > max_bytes:
            raise too_large(url, max_bytes)
        chunks.append(block)
    return b"".join(chunks)


def too_large(url: str, max_bytes: int) -> SourceError:
    megabytes = max_bytes / (1024 * 1024)
    return SourceError(
        f"{url} is larger than {megabytes:.3g} MB, too large for an article page or a feed. "
        "Save the article's text to a file and run `citebot add FILE`."
    )


def _too_slow(url: str, timeout: float) -> SourceError:
    return SourceError(f"{url} took longer than {timeout:g} s to download. Try again later.")


class _Guard:
    """One download's rules: which addresses it may connect to, and when it must be over.

    Hand-built because aiohttp's custom resolver is skipped for literal IP hosts (``http://127.0.0.1/``),
    so it cannot check every connection's address, and ``download`` is called from synchronous code."""

    def __init__(self, allow_private: bool, seconds: float) -> None:
        self.allow_private = allow_private
        self.expired = threading.Event()
        self._sockets: list[socket.socket] = []
        self._lock = threading.Lock()
        self._timer = threading.Timer(seconds, self._expire)
        self._timer.daemon = True

    def start(self) -> None:
        self._timer.start()

    def stop(self) -> None:
        self._timer.cancel()

    def connect(
        self, address: tuple[str, int], timeout: Any = DEFAULT_TIMEOUT, source_address: Any = None
    ) -> socket.socket:
        """What ``socket.create_connection`` does, to checked addresses only, under the deadline."""
        host, port = address
        try:
            found = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
        except socket.gaierror as unresolved:
            raise OSError(f"cannot resolve {host}: {unresolved.strerror}") from None
        if not self.allow_private:
            for *_, sockaddr in found:
                check_public(host, str(sockaddr[0]))
        last_error = OSError(f"no address for {host}")
        for family, kind, protocol, _, sockaddr in found:
            connection = socket.socket(family, kind, protocol)
            with self._lock:
                self._sockets.append(connection)
            if self.expired.is_set():
                connection.close()
                raise TimeoutError("the download deadline passed")
            if timeout is not DEFAULT_TIMEOUT:
                connection.settimeout(timeout)
            try:
                connection.connect(sockaddr)
                return connection
            except OSError as failed:
                last_error = failed
                connection.close()
        raise last_error

    def _expire(self) -> None:
        self.expired.set()
        with self._lock:
            for connection in self._sockets:
                with contextlib.suppress(OSError):
                    connection.shutdown(socket.SHUT_RDWR)


class _GuardedHTTPConnection(http.client.HTTPConnection):
    def __init__(self, *args: Any, guard: _Guard, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._create_connection = guard.connect


class _GuardedHTTPSConnection(http.client.HTTPSConnection):
    def __init__(self, *args: Any, guard: _Guard, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._create_connection = guard.connect


class _GuardedHTTPHandler(urllib.request.HTTPHandler):
    def __init__(self, guard: _Guard) -> None:
        super().__init__()
        self.guard = guard

    def http_open(self, req: urllib.request.Request) -> http.client.HTTPResponse:
        return self.do_open(functools.partial(_GuardedHTTPConnection, guard=self.guard), req)


class _GuardedHTTPSHandler(urllib.request.HTTPSHandler):
    def __init__(self, guard: _Guard) -> None:
        super().__init__()
        self.guard = guard

    def https_open(self, req: urllib.request.Request) -> http.client.HTTPResponse:
        return self.do_open(
            functools.partial(_GuardedHTTPSConnection, guard=self.guard),
            req,
            context=self._context,  # type: ignore[attr-defined]
        )


class _WebRedirects(urllib.request.HTTPRedirectHandler):
    """Follows redirects to valid http(s) addresses only (never file:, ftp: or data:); the
    connection guard checks where each one resolves."""

    def redirect_request(self, req, fp, code, msg, headers, newurl):  # type: ignore[no-untyped-def]
        if urllib.parse.urlsplit(newurl).scheme.lower() not in WEB_SCHEMES:
            raise SourceError(f"{req.full_url} redirects to {newurl}, which is not an http(s) address.")
        normalise_url(newurl)
        return super().redirect_request(req, fp, code, msg, headers, newurl)
