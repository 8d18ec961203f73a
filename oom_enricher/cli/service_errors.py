"""One line for a failed call to Elasticsearch or Kibana: what failed, where, what to do.

The clients wrap the cause several times (elastic_transport -> urllib3 -> OSError); the
line names the root cause, the full chain goes to the log at debug level (`--verbose`).
"""

from __future__ import annotations

import logging
import socket
import ssl
import urllib.error

log = logging.getLogger(__name__)


def _chain(exc: BaseException):
    seen: set[int] = set()
    while exc is not None and id(exc) not in seen:
        seen.add(id(exc))
        yield exc
        if isinstance(exc, urllib.error.URLError) and isinstance(exc.reason, BaseException):
            exc = exc.reason
        else:
            exc = exc.__cause__ or exc.__context__


def _cause(exc: BaseException) -> str | None:
    """The network cause in a few words, or None when the service answered."""
    for item in _chain(exc):
        if isinstance(item, ConnectionRefusedError):
            return "connection refused"
        if isinstance(item, socket.gaierror):
            return "host name not found"
        if isinstance(item, ssl.SSLCertVerificationError):
            return f"TLS certificate not trusted ({item.verify_message})"
        if isinstance(item, ssl.SSLError):
            return f"TLS failed ({item.reason or item})"
        if isinstance(item, TimeoutError | socket.timeout):
            return "timed out"
        if (
            isinstance(item, OSError)
            and not isinstance(item, urllib.error.URLError)
            and item.strerror
        ):
            return item.strerror.lower()
    text = str(exc)
    for needle, words in (
        ("Connection refused", "connection refused"),
        ("Name or service not known", "host name not found"),
        ("timed out", "timed out"),
        ("CERTIFICATE_VERIFY_FAILED", "TLS certificate not trusted"),
    ):
        if needle in text:
            return words
    return None


_ADVICE = {
    "connection refused": "check the URL and that the service is running",
    "host name not found": "check the host name in the URL",
    "timed out": "check the URL, the network, or raise the timeout",
}


def _status(exc: BaseException) -> int | None:
    meta = getattr(exc, "meta", None)
    status = getattr(meta, "status", None) or getattr(exc, "status_code", None)
    if isinstance(exc, urllib.error.HTTPError):
        status = exc.code
    return status if isinstance(status, int) else None


def describe(service: str, url: str, exc: BaseException) -> str:
    """`Elasticsearch at URL: cause; advice` for a failure talking to service at url."""
    log.debug("%s at %s failed", service, url, exc_info=exc)
    status = _status(exc)
    if status in (401, 403):
        what = "refused the credentials" if status == 401 else "denied the request"
        return (
            f"{service} at {url} {what} (HTTP {status}); check the user name and the "
            "password, API key or token file"
        )
    if status is not None:
        message = getattr(exc, "message", None) or getattr(exc, "reason", None) or exc
        return f"{service} at {url} answered HTTP {status}: {_short(str(message))}"
    cause = _cause(exc)
    if cause is None:
        return f"{service} at {url}: {_short(str(exc))}"
    advice = _ADVICE.get(cause, "check the URL and the CA or certificate options")
    return f"cannot reach {service} at {url}: {cause}; {advice}"


def is_service_error(exc: BaseException) -> bool:
    """True for the clients' own errors (elasticsearch, elastic_transport, urllib)."""
    module = type(exc).__module__.split(".")[0]
    return module in {"elasticsearch", "elastic_transport", "urllib3"} or isinstance(
        exc, urllib.error.URLError
    )


def _short(text: str, limit: int = 200) -> str:
    text = " ".join(text.split())
    return text if len(text) <= limit else text[: limit - 1] + "…"
