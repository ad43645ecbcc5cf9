"""PIN/UV auth protocols 1 and 2 (CTAP 2.1 section 6.5), authenticator side.

Invariant: the authenticator's key-agreement key and the pinUvAuthToken live only in
memory of the responder process (like a real key after power-up); the PIN itself is
kept only as LEFT(SHA-256(PIN), 16) in state.json.
"""

import hashlib
import hmac
import os

from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

COSE_ALG_ECDH_ES_HKDF_256 = -25


class PinProtocolError(Exception):
    """A malformed or unverifiable protocol message (mapped to a CTAP2 status)."""


def _aes_cbc(key, iv, data, encrypt):
    if len(data) % 16:
        raise PinProtocolError("ciphertext/plaintext not a multiple of the AES block")
    cipher = Cipher(algorithms.AES(key), modes.CBC(iv))
    op = cipher.encryptor() if encrypt else cipher.decryptor()
    return op.update(data) + op.finalize()


def _hkdf(ikm, info):
    return HKDF(algorithm=hashes.SHA256(), length=32, salt=b"\x00" * 32,
                info=info).derive(ikm)


class Protocol:
    """One PIN/UV auth protocol: kdf, encrypt, decrypt, authenticate, verify."""

    def __init__(self, number):
        if number not in (1, 2):
            raise PinProtocolError("unsupported protocol")
        self.number = number

    def kdf(self, z):
        if self.number == 1:
            return hashlib.sha256(z).digest()
        return _hkdf(z, b"CTAP2 HMAC key") + _hkdf(z, b"CTAP2 AES key")

    def encrypt(self, shared, plaintext):
        if self.number == 1:
            return _aes_cbc(shared, b"\x00" * 16, plaintext, True)
        iv = os.urandom(16)
        return iv + _aes_cbc(shared[32:], iv, plaintext, True)

    def decrypt(self, shared, ciphertext):
        if self.number == 1:
            return _aes_cbc(shared, b"\x00" * 16, ciphertext, False)
        if len(ciphertext) < 16:
            raise PinProtocolError("ciphertext shorter than its IV")
        return _aes_cbc(shared[32:], ciphertext[:16], ciphertext[16:], False)

    def _hmac_key(self, key):
        # With a shared secret, protocol 2 authenticates with its HMAC half; with a
        # pinUvAuthToken (32 bytes) the token itself is the key.
        if self.number == 2 and len(key) == 64:
            return key[:32]
        return key

    def authenticate(self, key, message):
        mac = hmac.new(self._hmac_key(key), message, hashlib.sha256).digest()
        return mac[:16] if self.number == 1 else mac

    def verify(self, key, message, signature):
        expected = self.authenticate(key, message)
        return isinstance(signature, bytes) and hmac.compare_digest(expected, signature)


class KeyAgreement:
    """The authenticator's ephemeral P-256 key (getKeyAgreement)."""

    def __init__(self):
        self.regenerate()

    def regenerate(self):
        self._key = ec.generate_private_key(ec.SECP256R1())

    def cose_public_key(self):
        numbers = self._key.public_key().public_numbers()
        return {1: 2, 3: COSE_ALG_ECDH_ES_HKDF_256, -1: 1,
                -2: numbers.x.to_bytes(32, "big"), -3: numbers.y.to_bytes(32, "big")}

    def shared_secret(self, protocol, peer_cose):
        """ECDH with the platform's COSE key, then the protocol's KDF."""
        if not isinstance(peer_cose, dict):
            raise PinProtocolError("keyAgreement is not a map")
        x, y = peer_cose.get(-2), peer_cose.get(-3)
        if peer_cose.get(1) != 2 or peer_cose.get(-1) != 1 or \
                not isinstance(x, bytes) or not isinstance(y, bytes) or \
                len(x) != 32 or len(y) != 32:
            raise PinProtocolError("keyAgreement is not a P-256 COSE key")
        try:
            peer = ec.EllipticCurvePublicNumbers(
                int.from_bytes(x, "big"), int.from_bytes(y, "big"),
                ec.SECP256R1()).public_key()
        except ValueError as exc:
            raise PinProtocolError("keyAgreement point not on the curve") from exc
        z = self._key.exchange(ec.ECDH(), peer)
        return protocol.kdf(z)
