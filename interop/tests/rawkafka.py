"""One-request-at-a-time Kafka protocol client built on kafka-python's protocol classes.

Used where a real client would refuse to send the request (a partition it knows is missing,
acks=5, a corrupt batch) or hides what the broker said (the error code, the stored batch's
compression). Requests are encoded and responses decoded by kafka-python's own schema-driven
classes; only the socket handling is here.
"""

from __future__ import annotations

import socket
import struct

from kafka.protocol.metadata import ApiVersionsRequest, ApiVersionsResponse
from kafka.record import MemoryRecords


class RawKafka:
    def __init__(self, bootstrap: str, timeout: float = 15.0):
        host, port = bootstrap.rsplit(":", 1)
        self.sock = socket.create_connection((host, int(port)), timeout=timeout)
        self.corr = 0
        self.versions: dict[int, tuple[int, int]] = {}
        resp = self.request(ApiVersionsRequest[0](), 0)
        assert resp.error_code == 0, f"ApiVersions v0 failed: error {resp.error_code}"
        self.versions = {k.api_key: (k.min_version, k.max_version) for k in resp.api_keys}

    def close(self):
        self.sock.close()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    def version_for(self, request_class, cap: int | None = None) -> int:
        """Highest version both kafka-python and the broker support, at most cap."""
        lo, hi = self.versions.get(request_class.API_KEY, (None, None))
        assert hi is not None, f"broker does not advertise {request_class.__name__} (api key {request_class.API_KEY})"
        v = min(hi, request_class.max_version, cap if cap is not None else hi)
        assert v >= max(lo, request_class.min_version), (
            f"no common version for {request_class.__name__}: broker {lo}..{hi}, "
            f"kafka-python {request_class.min_version}..{request_class.max_version}, cap {cap}")
        return v

    def _read_exact(self, n: int) -> bytes:
        buf = bytearray()
        while len(buf) < n:
            chunk = self.sock.recv(n - len(buf))
            if not chunk:
                raise ConnectionError(f"broker closed the connection ({len(buf)}/{n} bytes read)")
            buf += chunk
        return bytes(buf)

    def send_raw(self, payload: bytes) -> bytes:
        """Send one framed request body (header included), return the response after its size."""
        self.sock.sendall(struct.pack(">i", len(payload)) + payload)
        (size,) = struct.unpack(">i", self._read_exact(4))
        return self._read_exact(size)

    def request(self, req, version: int):
        self.corr += 1
        req.API_VERSION = version
        req.with_header(correlation_id=self.corr, client_id="interop-raw")
        data = req.encode(header=True, framed=True)
        self.sock.sendall(data)
        if not req.expect_response():
            return None
        (size,) = struct.unpack(">i", self._read_exact(4))
        body = self._read_exact(size)
        response_class = type(req).__name__.replace("Request", "Response")
        module = __import__(type(req).__module__, fromlist=[response_class])
        resp_cls = getattr(module, response_class)
        if resp_cls is ApiVersionsResponse:
            # ApiVersions responses always have a v0 (non-flexible) header
            (corr,) = struct.unpack(">i", body[:4])
            assert corr == self.corr, f"correlation id {corr} != {self.corr}"
            return resp_cls.decode(body[4:], version=version)
        resp = resp_cls.decode(body, version=version, header=True)
        assert resp._header.correlation_id == self.corr, (
            f"correlation id {resp._header.correlation_id} != {self.corr}")
        return resp


def batches(records_bytes: bytes):
    """The record batches in a fetched records blob (kafka-python's parser)."""
    mr = MemoryRecords(bytes(records_bytes))
    out = []
    while True:
        b = mr.next_batch()
        if b is None:
            return out
        out.append(b)
