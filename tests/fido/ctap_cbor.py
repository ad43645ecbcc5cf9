"""CBOR as CTAP2 uses it: a decoder for requests and a canonical encoder for responses.

Invariant: `encode` only ever produces CTAP2 canonical CBOR (definite lengths, shortest
integer forms, map keys sorted by major type, then encoded length, then bytes), so a
client that checks canonical form (libfido2 does for some maps) accepts every answer.
`decode` accepts only what a CTAP2 client may send; anything else raises CborError,
which the authenticator turns into CTAP2_ERR_INVALID_CBOR.
"""

import struct


class CborError(ValueError):
    """The input is not CBOR the authenticator accepts."""


class Undefined:
    """CBOR `undefined` (simple value 23); never produced by the encoder."""


def _head(major, n):
    if n < 24:
        return bytes([(major << 5) | n])
    if n < 0x100:
        return bytes([(major << 5) | 24, n])
    if n < 0x10000:
        return bytes([(major << 5) | 25]) + struct.pack(">H", n)
    if n < 0x100000000:
        return bytes([(major << 5) | 26]) + struct.pack(">I", n)
    if n < 0x10000000000000000:
        return bytes([(major << 5) | 27]) + struct.pack(">Q", n)
    raise CborError("integer too large for CBOR")


def _map_key_order(encoded_key):
    return (encoded_key[0] >> 5, len(encoded_key), encoded_key)


def encode(value):
    """Encode a Python value (int, bytes, str, bool, None, list, tuple, dict)."""
    if value is True:
        return b"\xf5"
    if value is False:
        return b"\xf4"
    if value is None:
        return b"\xf6"
    if isinstance(value, int):
        if value >= 0:
            return _head(0, value)
        return _head(1, -1 - value)
    if isinstance(value, (bytes, bytearray, memoryview)):
        value = bytes(value)
        return _head(2, len(value)) + value
    if isinstance(value, str):
        raw = value.encode("utf-8")
        return _head(3, len(raw)) + raw
    if isinstance(value, (list, tuple)):
        return _head(4, len(value)) + b"".join(encode(v) for v in value)
    if isinstance(value, dict):
        items = sorted(((encode(k), encode(v)) for k, v in value.items()),
                       key=lambda kv: _map_key_order(kv[0]))
        for (k1, _), (k2, _) in zip(items, items[1:]):
            if k1 == k2:
                raise CborError("duplicate map key")
        return _head(5, len(items)) + b"".join(k + v for k, v in items)
    raise CborError("cannot encode %r" % type(value).__name__)


MAX_DEPTH = 16


class _Reader:
    def __init__(self, data):
        self.data = bytes(data)
        self.pos = 0

    def take(self, n):
        if n < 0 or self.pos + n > len(self.data):
            raise CborError("truncated CBOR")
        out = self.data[self.pos:self.pos + n]
        self.pos += n
        return out

    def argument(self, info):
        if info < 24:
            return info
        if info == 24:
            return self.take(1)[0]
        if info == 25:
            return struct.unpack(">H", self.take(2))[0]
        if info == 26:
            return struct.unpack(">I", self.take(4))[0]
        if info == 27:
            return struct.unpack(">Q", self.take(8))[0]
        raise CborError("indefinite length or reserved additional info %d" % info)

    def item(self, depth):
        if depth > MAX_DEPTH:
            raise CborError("CBOR nested too deeply")
        initial = self.take(1)[0]
        major, info = initial >> 5, initial & 0x1F
        if major == 7:
            if info == 20:
                return False
            if info == 21:
                return True
            if info == 22:
                return None
            if info == 23:
                return Undefined
            if info == 25:
                return _half_float(self.take(2))
            if info == 26:
                return struct.unpack(">f", self.take(4))[0]
            if info == 27:
                return struct.unpack(">d", self.take(8))[0]
            if info < 24:
                return ("simple", info)
            if info == 24:
                return ("simple", self.take(1)[0])
            raise CborError("unsupported simple/float encoding")
        n = self.argument(info)
        if major == 0:
            return n
        if major == 1:
            return -1 - n
        if major == 2:
            return self.take(n)
        if major == 3:
            try:
                return self.take(n).decode("utf-8")
            except UnicodeDecodeError as exc:
                raise CborError("invalid UTF-8 in text string") from exc
        if major == 4:
            if n > len(self.data):
                raise CborError("array longer than input")
            return [self.item(depth + 1) for _ in range(n)]
        if major == 5:
            if n > len(self.data):
                raise CborError("map longer than input")
            out = {}
            for _ in range(n):
                key = self.item(depth + 1)
                if isinstance(key, (list, dict)):
                    raise CborError("unhashable map key")
                if key in out:
                    raise CborError("duplicate map key")
                out[key] = self.item(depth + 1)
            return out
        if major == 6:
            return self.item(depth + 1)  # tags carry no meaning in CTAP2: unwrap
        raise CborError("unreachable major type")


def _half_float(raw):
    half = struct.unpack(">H", raw)[0]
    sign = -1.0 if half & 0x8000 else 1.0
    exp = (half >> 10) & 0x1F
    frac = half & 0x3FF
    if exp == 0:
        return sign * frac * 2.0 ** -24
    if exp == 31:
        return sign * float("inf") if frac == 0 else float("nan")
    return sign * (1 + frac / 1024.0) * 2.0 ** (exp - 15)


def decode(data):
    """Decode exactly one CBOR item that spans all of `data`."""
    reader = _Reader(data)
    value = reader.item(0)
    if reader.pos != len(reader.data):
        raise CborError("trailing bytes after CBOR item")
    return value


def decode_prefix(data):
    """Decode one CBOR item at the start of `data`; return (item, bytes used)."""
    reader = _Reader(data)
    value = reader.item(0)
    return value, reader.pos
