"""A minimal raw forward-protocol client, for the misbehaving-client tests and the bench."""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import ssl

import msgpack


class RawForwardClient:
    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.reader = reader
        self.writer = writer
        self.unpacker = msgpack.Unpacker(raw=False)

    @classmethod
    async def connect(
        cls,
        port: int,
        *,
        shared_key: str | None = None,
        hostname: str = "raw-client",
        ssl_context: ssl.SSLContext | None = None,
    ) -> RawForwardClient:
        reader, writer = await asyncio.open_connection(
            "127.0.0.1", port, ssl=ssl_context, server_hostname="localhost" if ssl_context else None
        )
        client = cls(reader, writer)
        if shared_key is not None:
            pong = await client.handshake(shared_key, hostname)
            if not pong[1]:
                raise PermissionError(pong[2])
        return client

    async def read_object(self, timeout: float = 10.0):
        while True:
            for obj in self.unpacker:
                return obj
            data = await asyncio.wait_for(self.reader.read(65536), timeout)
            if not data:
                raise ConnectionResetError("closed by server")
            self.unpacker.feed(data)

    async def handshake(self, shared_key: str, hostname: str) -> list:
        helo = await self.read_object()
        nonce = helo[1]["nonce"]
        nonce = nonce.encode() if isinstance(nonce, str) else nonce
        salt = b"0123456789abcdef"
        digest = hashlib.sha512(salt + hostname.encode() + nonce + shared_key.encode()).hexdigest()
        self.writer.write(msgpack.packb(["PING", hostname, salt.decode(), digest, "", ""]))
        await self.writer.drain()
        return await self.read_object()

    async def send(self, request: list | bytes) -> None:
        self.writer.write(request if isinstance(request, bytes) else msgpack.packb(request))
        await self.writer.drain()

    async def send_acked(self, tag: str, entries: list, chunk: str) -> dict:
        payload = b"".join(msgpack.packb(e) for e in entries)
        await self.send([tag, payload, {"chunk": chunk, "size": len(entries)}])
        return await self.read_object()

    async def close(self) -> None:
        self.writer.close()
        with contextlib.suppress(ConnectionError, ssl.SSLError):
            await self.writer.wait_closed()
