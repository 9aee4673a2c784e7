#!/usr/bin/env python3
"""A Kafka TCP proxy that hides APIs from ApiVersions responses.

Used to find out empirically which of librdkafka's tests depend on consumer groups or
transactions: run them through this proxy against a real Kafka that advertises the proxy's
address (``advertised.listeners``), with the group or transaction APIs removed from what the
broker says it supports, as a broker without those features would answer.

    apiproxy.py LISTEN_PORT UPSTREAM_HOST:PORT --hide group|txn|KEY[,KEY...] [...]

Everything else passes through unchanged. Stdlib only.
"""

from __future__ import annotations

import argparse
import asyncio
import struct

GROUP_KEYS = {8, 9, 10, 11, 12, 13, 14, 15, 16, 42, 47, 68, 69}  # commit/fetch offsets, coordinator, classic + KIP-848 groups
TXN_KEYS = {24, 25, 26, 27, 28, 65, 66}  # AddPartitions/AddOffsets/EndTxn/WriteTxnMarkers/TxnOffsetCommit/Describe/List
API_VERSIONS = 18


def uvarint(buf: bytes, pos: int) -> tuple[int, int]:
    shift = value = 0
    while True:
        b = buf[pos]
        pos += 1
        value |= (b & 0x7F) << shift
        if not b & 0x80:
            return value, pos
        shift += 7


def put_uvarint(n: int) -> bytes:
    out = bytearray()
    while True:
        b = n & 0x7F
        n >>= 7
        if n:
            out.append(b | 0x80)
        else:
            out.append(b)
            return bytes(out)


def skip_tags(buf: bytes, pos: int) -> int:
    n, pos = uvarint(buf, pos)
    for _ in range(n):
        _, pos = uvarint(buf, pos)
        size, pos = uvarint(buf, pos)
        pos += size
    return pos


def filter_api_versions(body: bytes, version: int, hide: set[int]) -> bytes:
    """body: the response after the correlation id."""
    (error,) = struct.unpack_from(">h", body, 0)
    pos = 2
    flexible = version >= 3 and error != 35  # UNSUPPORTED_VERSION replies use the v0 layout
    kept = []
    if flexible:
        n, pos = uvarint(body, pos)
        n -= 1
        for _ in range(max(n, 0)):
            start = pos
            key = struct.unpack_from(">h", body, pos)[0]
            pos = skip_tags(body, pos + 6)
            if key not in hide:
                kept.append(body[start:pos])
        return body[:2] + put_uvarint(len(kept) + 1) + b"".join(kept) + body[pos:]
    (n,) = struct.unpack_from(">i", body, pos)
    pos += 4
    for _ in range(max(n, 0)):
        entry = body[pos:pos + 6]
        pos += 6
        if struct.unpack_from(">h", entry)[0] not in hide:
            kept.append(entry)
    return body[:2] + struct.pack(">i", len(kept)) + b"".join(kept) + body[pos:]


async def read_frame(reader: asyncio.StreamReader) -> bytes | None:
    try:
        head = await reader.readexactly(4)
        (size,) = struct.unpack(">i", head)
        return await reader.readexactly(size)
    except (asyncio.IncompleteReadError, ConnectionError):
        return None


async def handle(client_r, client_w, upstream: tuple[str, int], hide: set[int]):
    try:
        up_r, up_w = await asyncio.open_connection(*upstream)
    except OSError:
        client_w.close()
        return
    pending: dict[int, int] = {}  # correlation id -> ApiVersions request version

    async def to_broker():
        while (frame := await read_frame(client_r)) is not None:
            key, ver, corr = struct.unpack_from(">hhi", frame, 0)
            if key == API_VERSIONS:
                pending[corr] = ver
            up_w.write(struct.pack(">i", len(frame)) + frame)
            await up_w.drain()
        up_w.close()

    async def to_client():
        while (frame := await read_frame(up_r)) is not None:
            (corr,) = struct.unpack_from(">i", frame, 0)
            if corr in pending:
                frame = frame[:4] + filter_api_versions(frame[4:], pending.pop(corr), hide)
            client_w.write(struct.pack(">i", len(frame)) + frame)
            await client_w.drain()
        client_w.close()

    try:
        await asyncio.gather(to_broker(), to_client())
    except (ConnectionError, OSError):
        pass
    finally:
        for w in (up_w, client_w):
            w.close()


def parse_hide(specs: list[str]) -> set[int]:
    hide: set[int] = set()
    for spec in specs:
        for part in spec.split(","):
            if part == "group":
                hide |= GROUP_KEYS
            elif part == "txn":
                hide |= TXN_KEYS
            elif part:
                hide.add(int(part))
    return hide


async def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("listen_port", type=int)
    ap.add_argument("upstream")
    ap.add_argument("--hide", action="append", default=[])
    args = ap.parse_args()
    host, port = args.upstream.rsplit(":", 1)
    hide = parse_hide(args.hide)
    server = await asyncio.start_server(
        lambda r, w: handle(r, w, (host, int(port)), hide), "127.0.0.1", args.listen_port)
    print(f"apiproxy: 127.0.0.1:{args.listen_port} -> {args.upstream}, hiding API keys {sorted(hide)}", flush=True)
    async with server:
        await server.serve_forever()


if __name__ == "__main__":
    asyncio.run(main())
