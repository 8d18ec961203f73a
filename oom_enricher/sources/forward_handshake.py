"""Forward protocol shared-key handshake: HELO (server) -> PING (client) -> PONG (server)."""

from __future__ import annotations

import hashlib
import hmac
import secrets
from dataclasses import dataclass, field
from typing import Any

import msgpack

from oom_enricher.sources.forward_codec import SURROGATE, as_bytes


@dataclass(frozen=True, slots=True)
class HandshakeConfig:
    shared_key: str
    self_hostname: str = "oom-enricher"
    users: dict[str, str] = field(default_factory=dict)  # username -> password
    keepalive: bool = True


@dataclass(slots=True)
class HandshakeResult:
    ok: bool
    reason: str
    client_hostname: str = ""
    username: str = ""
    pong: bytes = b""


def sha512_hex(*parts: bytes) -> str:
    digest = hashlib.sha512()
    for part in parts:
        digest.update(part)
    return digest.hexdigest()


class ServerHandshake:
    """Per-connection handshake state: the nonce and auth salt sent in HELO."""

    def __init__(self, config: HandshakeConfig) -> None:
        self.config = config
        # Fluentd sends 32 hex chars; a str nonce works for every client we know.
        self.nonce = secrets.token_hex(16)
        # Node's client only answers user auth when `auth` arrives as bin.
        self.auth_salt = secrets.token_bytes(16) if config.users else b""

    def helo(self) -> bytes:
        options = {
            "nonce": self.nonce,
            "auth": self.auth_salt if self.auth_salt else "",
            "keepalive": self.config.keepalive,
        }
        return msgpack.packb(["HELO", options])

    def check_ping(self, ping: Any) -> HandshakeResult:
        if not isinstance(ping, list) or len(ping) < 4 or ping[0] != "PING":
            return self._refuse("invalid PING message")
        try:
            hostname, salt, digest = (as_bytes(v) for v in ping[1:4])
            username = as_bytes(ping[4]) if len(ping) > 4 else b""
            password_digest = as_bytes(ping[5]) if len(ping) > 5 else b""
        except TypeError:
            return self._refuse("invalid PING field types")
        host_text = hostname.decode("utf-8", SURROGATE)
        key = self.config.shared_key.encode()
        nonce = self.nonce.encode()
        expected = sha512_hex(salt, hostname, nonce, key).encode()
        if not hmac.compare_digest(expected, digest.lower()):
            return self._refuse("shared_key mismatch", host_text)
        if host_text == self.config.self_hostname:
            return self._refuse("same hostname between input and output", host_text)
        user_text = username.decode("utf-8", SURROGATE)
        if self.config.users:
            password = self.config.users.get(user_text)
            want = sha512_hex(self.auth_salt, username, (password or "").encode()).encode()
            if password is None or not hmac.compare_digest(want, password_digest.lower()):
                return self._refuse("username/password mismatch", host_text)
        server = self.config.self_hostname.encode()
        pong = msgpack.packb(
            ["PONG", True, "", self.config.self_hostname, sha512_hex(salt, server, nonce, key)]
        )
        return HandshakeResult(True, "", host_text, user_text, pong)

    def _refuse(self, reason: str, hostname: str = "") -> HandshakeResult:
        pong = msgpack.packb(["PONG", False, reason, "", ""])
        return HandshakeResult(False, reason, hostname, "", pong)
