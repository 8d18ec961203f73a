import hashlib
import os

import msgpack

from oom_enricher.sources.forward_codec import new_unpacker
from oom_enricher.sources.forward_handshake import HandshakeConfig, ServerHandshake


def roundtrip(obj_bytes: bytes):
    u = new_unpacker(1 << 20)
    u.feed(obj_bytes)
    return next(u)


def ping_like_fluent_bit(helo: list, key: bytes, hostname: bytes, salt: bytes) -> bytes:
    """Fluent Bit packs its 16 random salt bytes as a msgpack *str*."""
    nonce = helo[1]["nonce"].encode()
    digest = hashlib.sha512(salt + hostname + nonce + key).hexdigest()
    return msgpack.packb(["PING", hostname, salt, digest, b"", b""], use_bin_type=False)


def test_raw_byte_salt_packed_as_str_and_pong_digest():
    hs = ServerHandshake(HandshakeConfig(shared_key="k", self_hostname="enricher"))
    helo = msgpack.unpackb(hs.helo())
    assert helo[0] == "HELO" and helo[1]["auth"] == "" and helo[1]["keepalive"] is True
    salt = b"\xff\xfe" + os.urandom(14)
    result = hs.check_ping(roundtrip(ping_like_fluent_bit(helo, b"k", b"fb-node", salt)))
    assert result.ok and result.client_hostname == "fb-node"
    pong = msgpack.unpackb(result.pong)
    expected = hashlib.sha512(salt + b"enricher" + hs.nonce.encode() + b"k").hexdigest()
    assert pong == ["PONG", True, "", "enricher", expected]


def test_refusals_wrong_key_same_hostname_bad_user():
    hs = ServerHandshake(HandshakeConfig(shared_key="k", self_hostname="enricher"))
    helo = msgpack.unpackb(hs.helo())
    bad = hs.check_ping(roundtrip(ping_like_fluent_bit(helo, b"wrong", b"n", b"s" * 16)))
    assert not bad.ok and bad.reason == "shared_key mismatch"
    assert msgpack.unpackb(bad.pong) == ["PONG", False, "shared_key mismatch", "", ""]
    same = hs.check_ping(roundtrip(ping_like_fluent_bit(helo, b"k", b"enricher", b"s" * 16)))
    assert not same.ok and "same hostname" in same.reason

    users = ServerHandshake(HandshakeConfig(shared_key="k", users={"ops": "pw"}))
    helo = msgpack.unpackb(users.helo())
    auth = helo[1]["auth"]
    assert isinstance(auth, bytes) and len(auth) == 16
    nonce = helo[1]["nonce"].encode()
    digest = hashlib.sha512(b"salt" + b"n" + nonce + b"k").hexdigest()
    good_pw = hashlib.sha512(auth + b"ops" + b"pw").hexdigest()
    ok = users.check_ping(["PING", "n", "salt", digest, "ops", good_pw])
    assert ok.ok and ok.username == "ops"
    nope = users.check_ping(["PING", "n", "salt", digest, "ops", "0" * 128])
    assert not nope.ok and nope.reason == "username/password mismatch"
    assert not users.check_ping(["PONG"]).ok
