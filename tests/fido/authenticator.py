"""The CTAP2 authenticator behind the virtual key: commands, persistent state, switches.

Invariant: every CTAP2 request re-reads DIR/behaviour.json and DIR/state.json, and
every change to the key (a new credential, a counter step, a PIN, a retry count) is
written back to DIR/state.json atomically before the response leaves, so separate
client processes, one after the other, see one and the same key.
"""

import base64
import hashlib
import json
import os
import re
import secrets
import sys
import tempfile
import time

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519

import ctap_cbor
from pin_protocol import KeyAgreement, PinProtocolError, Protocol

# CTAP2 command bytes
CMD_MAKE_CREDENTIAL = 0x01
CMD_GET_ASSERTION = 0x02
CMD_GET_INFO = 0x04
CMD_CLIENT_PIN = 0x06
CMD_RESET = 0x07
CMD_GET_NEXT_ASSERTION = 0x08
CMD_SELECTION = 0x0B

COMMAND_NAMES = {
    CMD_MAKE_CREDENTIAL: "makeCredential",
    CMD_GET_ASSERTION: "getAssertion",
    CMD_GET_INFO: "getInfo",
    CMD_CLIENT_PIN: "clientPIN",
    CMD_RESET: "reset",
    CMD_GET_NEXT_ASSERTION: "getNextAssertion",
    CMD_SELECTION: "selection",
}

PIN_SUBCOMMAND_NAMES = {
    0x01: "getPINRetries",
    0x02: "getKeyAgreement",
    0x03: "setPIN",
    0x04: "changePIN",
    0x05: "getPinToken",
    0x06: "getPinUvAuthTokenUsingUvWithPermissions",
    0x07: "getUVRetries",
    0x09: "getPinUvAuthTokenUsingPinWithPermissions",
}

# CTAP2 status codes
OK = 0x00
ERR_INVALID_COMMAND = 0x01
ERR_INVALID_PARAMETER = 0x02
ERR_INVALID_LENGTH = 0x03
ERR_CBOR_UNEXPECTED_TYPE = 0x11
ERR_INVALID_CBOR = 0x12
ERR_MISSING_PARAMETER = 0x14
ERR_CREDENTIAL_EXCLUDED = 0x19
ERR_UNSUPPORTED_ALGORITHM = 0x26
ERR_OPERATION_DENIED = 0x27
ERR_UNSUPPORTED_OPTION = 0x2B
ERR_INVALID_OPTION = 0x2C
ERR_KEEPALIVE_CANCEL = 0x2D
ERR_NO_CREDENTIALS = 0x2E
ERR_USER_ACTION_TIMEOUT = 0x2F
ERR_NOT_ALLOWED = 0x30
ERR_PIN_INVALID = 0x31
ERR_PIN_BLOCKED = 0x32
ERR_PIN_AUTH_INVALID = 0x33
ERR_PIN_AUTH_BLOCKED = 0x34
ERR_PIN_NOT_SET = 0x35
ERR_PUAT_REQUIRED = 0x36
ERR_PIN_POLICY_VIOLATION = 0x37
ERR_UNAUTHORIZED_PERMISSION = 0x40
ERR_OTHER = 0x7F

COSE_ES256 = -7
COSE_EDDSA = -8
SUPPORTED_ALGS = (COSE_ES256, COSE_EDDSA)

FLAG_UP = 0x01
FLAG_UV = 0x04
FLAG_AT = 0x40
FLAG_RFU2 = 0x20  # reserved: the bit tamper_auth_data flips by default

PERM_MC = 0x01
PERM_GA = 0x02

PIN_RETRIES_MAX = 8
UV_RETRIES_MAX = 8
PIN_MIN_LENGTH = 4

# A fixed AAGUID, so a test can recognise the virtual key: the first 16 bytes of
# SHA-256("pam_mfa virtual FIDO2 key").
AAGUID = hashlib.sha256(b"pam_mfa virtual FIDO2 key").digest()[:16]

KNOWN_SWITCHES = {
    "touch", "silent", "wrong_rp_id_hash", "tamper_auth_data", "tamper_signature",
    "up_clear", "uv_clear", "counter", "counter_zero", "unknown_credential",
    "malformed_cbor", "bad_framing", "uv", "pin", "rk", "attestation", "pin_protocols",
    "versions",
}

# What malformed_cbor=true returns after status 0: a map announcing one entry whose
# value is a byte string claiming 64 bytes, of which only 5 follow.
GARBAGE_CBOR = b"\xa1\x01\x58\x40garba"

DEFAULT_SCOPE = ("makeCredential", "getAssertion")


class CtapError(Exception):
    """Ends a request with a CTAP2 status byte and no CBOR body."""

    def __init__(self, status, why=""):
        super().__init__("status 0x%02x %s" % (status, why))
        self.status = status
        self.why = why


class Cancelled(Exception):
    """The platform sent CTAPHID_CANCEL while the key waited for a touch."""


class Abandoned(Exception):
    """The transaction is dropped without an answer (its client went away)."""


def b64(data):
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def unb64(text):
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def log(msg):
    sys.stderr.write("%s virtual_key: %s\n" % (time.strftime("%H:%M:%S"), msg))
    sys.stderr.flush()


def scope_applies(value, command_name, default_scope=DEFAULT_SCOPE):
    """Whether a scoped switch (true / "all" / name / list of names) hits a command."""
    if value is None or value is False:
        return False
    if value is True:
        return command_name in default_scope
    names = [value] if isinstance(value, str) else list(value)
    if "all" in names:
        return True
    return command_name in names


# ---------------------------------------------------------------- files in DIR

def atomic_write_json(path, obj):
    directory = os.path.dirname(path) or "."
    fd, tmp = tempfile.mkstemp(prefix=".state.", dir=directory)
    try:
        with os.fdopen(fd, "w") as handle:
            json.dump(obj, handle, indent=1, sort_keys=True)
            handle.write("\n")
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise


def load_behaviour(path):
    """behaviour.json as a dict; missing or empty means all switches off."""
    for attempt in range(3):
        try:
            with open(path) as handle:
                text = handle.read()
        except FileNotFoundError:
            return {}
        if not text.strip():
            return {}
        try:
            value = json.loads(text)
        except ValueError:
            # A test that rewrites the file in place may be caught mid-write.
            time.sleep(0.01)
            continue
        if not isinstance(value, dict):
            log("behaviour.json is not a JSON object; ignoring it")
            return {}
        unknown = set(value) - KNOWN_SWITCHES
        if unknown:
            log("behaviour.json: unknown switches ignored: %s" % ", ".join(sorted(unknown)))
        return value
    log("behaviour.json is not valid JSON; ignoring it")
    return {}


def new_state():
    return {"version": 1, "aaguid": AAGUID.hex(), "credentials": [],
            "pin_hash": None, "pin_retries": PIN_RETRIES_MAX,
            "uv_retries": UV_RETRIES_MAX}


# ---------------------------------------------------------------- credential keys

def generate_key(alg):
    if alg == COSE_ES256:
        key = ec.generate_private_key(ec.SECP256R1())
        return key.private_numbers().private_value.to_bytes(32, "big")
    key = ed25519.Ed25519PrivateKey.generate()
    return key.private_bytes(serialization.Encoding.Raw, serialization.PrivateFormat.Raw,
                             serialization.NoEncryption())


def private_key(alg, raw):
    if alg == COSE_ES256:
        return ec.derive_private_key(int.from_bytes(raw, "big"), ec.SECP256R1())
    return ed25519.Ed25519PrivateKey.from_private_bytes(raw)


def cose_public_key(alg, raw):
    key = private_key(alg, raw)
    if alg == COSE_ES256:
        numbers = key.public_key().public_numbers()
        return {1: 2, 3: COSE_ES256, -1: 1,
                -2: numbers.x.to_bytes(32, "big"), -3: numbers.y.to_bytes(32, "big")}
    x = key.public_key().public_bytes(serialization.Encoding.Raw,
                                      serialization.PublicFormat.Raw)
    return {1: 1, 3: COSE_EDDSA, -1: 6, -2: x}


def sign(alg, raw, message):
    key = private_key(alg, raw)
    if alg == COSE_ES256:
        return key.sign(message, ec.ECDSA(hashes.SHA256()))  # DER ECDSA-Sig-Value
    return key.sign(message)  # raw 64-byte Ed25519 signature


def self_check_signature(alg, raw, message, signature):
    """Guards against a fixture bug: the key never sends a signature it cannot verify
    unless a tamper switch asked for one."""
    pub = private_key(alg, raw).public_key()
    try:
        if alg == COSE_ES256:
            pub.verify(signature, message, ec.ECDSA(hashes.SHA256()))
        else:
            pub.verify(signature, message)
    except InvalidSignature:
        raise CtapError(ERR_OTHER, "self-check of own signature failed")


# ---------------------------------------------------------------- request parsing

def _require(params, key, kind, name):
    if key not in params:
        raise CtapError(ERR_MISSING_PARAMETER, "missing %s" % name)
    return _optional(params, key, kind, name)


def _optional(params, key, kind, name):
    value = params.get(key)
    if value is not None and not isinstance(value, kind):
        raise CtapError(ERR_CBOR_UNEXPECTED_TYPE, "%s has the wrong type" % name)
    if kind is int and isinstance(value, bool):
        raise CtapError(ERR_CBOR_UNEXPECTED_TYPE, "%s has the wrong type" % name)
    return value


def _options(params, key):
    opts = _optional(params, key, dict, "options") or {}
    for name, value in opts.items():
        if not isinstance(name, str) or not isinstance(value, bool):
            raise CtapError(ERR_CBOR_UNEXPECTED_TYPE, "options entries must be text: bool")
    return opts


def _descriptor_ids(items, name):
    ids = []
    for item in items or []:
        if not isinstance(item, dict) or not isinstance(item.get("id"), bytes) or \
                not isinstance(item.get("type"), str):
            raise CtapError(ERR_CBOR_UNEXPECTED_TYPE, "bad descriptor in %s" % name)
        if item["type"] == "public-key":
            ids.append(item["id"])
    return ids


# ---------------------------------------------------------------- the authenticator

class Authenticator:
    """CTAP2 over already reassembled CTAPHID_CBOR payloads."""

    def __init__(self, directory):
        self.directory = directory
        self.state_path = os.path.join(directory, "state.json")
        self.behaviour_path = os.path.join(directory, "behaviour.json")
        self.key_agreement = KeyAgreement()
        self.pin_token = None          # (token bytes, permissions, rp_id or None)
        self.consecutive_pin_failures = 0  # until power cycle (= responder restart)
        self.next_assertions = None    # pending getNextAssertion context
        state = self.load_state()
        self.save_state(state)

    # -- files

    def load_behaviour(self):
        return load_behaviour(self.behaviour_path)

    def load_state(self):
        try:
            with open(self.state_path) as handle:
                state = json.load(handle)
        except FileNotFoundError:
            return new_state()
        except ValueError as exc:
            raise CtapError(ERR_OTHER, "state.json unreadable: %s" % exc)
        base = new_state()
        base.update(state)
        return base

    def save_state(self, state):
        atomic_write_json(self.state_path, state)

    # -- entry point

    def handle(self, request, user):
        """Answer one CTAP2 request: status byte followed by the CBOR body.

        `user` is the transport's presence interface: user.wait(ms or None) sends
        KEEPALIVE(UPNEEDED) while waiting and raises Cancelled or Abandoned."""
        if not request:
            return bytes([ERR_INVALID_LENGTH])
        command = request[0]
        name = COMMAND_NAMES.get(command, "0x%02x" % command)
        behaviour = self.load_behaviour()
        if command != CMD_GET_NEXT_ASSERTION:
            self.next_assertions = None
        try:
            params = {}
            if len(request) > 1:
                try:
                    params = ctap_cbor.decode(request[1:])
                except ctap_cbor.CborError as exc:
                    raise CtapError(ERR_INVALID_CBOR, str(exc))
                if not isinstance(params, dict):
                    raise CtapError(ERR_CBOR_UNEXPECTED_TYPE, "parameters are not a map")
            state = self.load_state()
            self.apply_pin_switch(state, behaviour)
            if command == CMD_GET_INFO:
                body = self.get_info(state, behaviour)
            elif command == CMD_MAKE_CREDENTIAL:
                body = self.make_credential(state, behaviour, params, user)
            elif command == CMD_GET_ASSERTION:
                body = self.get_assertion(state, behaviour, params, user)
            elif command == CMD_GET_NEXT_ASSERTION:
                body = self.get_next_assertion(state, behaviour)
            elif command == CMD_CLIENT_PIN:
                body = self.client_pin(state, behaviour, params, user)
            elif command == CMD_SELECTION:
                self.wait_for_user(behaviour, user)
                body = None
            else:
                raise CtapError(ERR_INVALID_COMMAND, "unsupported command")
        except CtapError as exc:
            log("%s -> 0x%02x %s" % (self.describe(name, params), exc.status, exc.why))
            return bytes([exc.status])
        if scope_applies(behaviour.get("malformed_cbor"), name):
            log("%s -> 0x00 with garbage CBOR (malformed_cbor)" % self.describe(name, params))
            return bytes([OK]) + GARBAGE_CBOR
        log("%s -> 0x00" % self.describe(name, params))
        return bytes([OK]) + (ctap_cbor.encode(body) if body is not None else b"")

    @staticmethod
    def describe(name, params):
        if name == "clientPIN" and isinstance(params, dict):
            sub = PIN_SUBCOMMAND_NAMES.get(params.get(2), params.get(2))
            return "clientPIN(%s, protocol %s)" % (sub, params.get(1))
        return name

    # -- user presence

    def wait_for_user(self, behaviour, user):
        touch = behaviour.get("touch", "auto")
        if not isinstance(touch, str):
            touch = "auto"
        try:
            if touch == "auto":
                return
            if touch == "never":
                user.wait(None)
                raise CtapError(ERR_USER_ACTION_TIMEOUT, "touch never came")
            if touch == "deny":
                raise CtapError(ERR_OPERATION_DENIED, "touch=deny")
            match = re.fullmatch(r"(delay|timeout):(\d+)", touch)
            if not match:
                log("touch=%r not understood; treating as auto" % touch)
                return
            user.wait(int(match.group(2)))
            if match.group(1) == "timeout":
                raise CtapError(ERR_USER_ACTION_TIMEOUT, "touch=timeout")
        except Cancelled:
            raise CtapError(ERR_KEEPALIVE_CANCEL, "cancelled while waiting for touch")

    # -- switches that change the key itself

    @staticmethod
    def pin_hash(pin):
        return hashlib.sha256(pin.encode("utf-8")).digest()[:16].hex()

    def apply_pin_switch(self, state, behaviour):
        if "pin" not in behaviour or behaviour["pin"] is None:
            return
        wanted = behaviour["pin"]
        if wanted is False:
            if state["pin_hash"] is not None:
                state["pin_hash"] = None
                state["pin_retries"] = PIN_RETRIES_MAX
                self.pin_token = None
                self.save_state(state)
            return
        if not isinstance(wanted, str) or len(wanted.encode("utf-8")) < PIN_MIN_LENGTH:
            log("behaviour pin must be a string of at least 4 bytes; ignored")
            return
        if state["pin_hash"] != self.pin_hash(wanted):
            state["pin_hash"] = self.pin_hash(wanted)
            state["pin_retries"] = PIN_RETRIES_MAX
            self.pin_token = None
            self.consecutive_pin_failures = 0
            self.save_state(state)

    @staticmethod
    def ctap21(behaviour):
        """False when the switch "versions" makes the key a CTAP 2.0 one."""
        versions = behaviour.get("versions")
        return not isinstance(versions, list) or "FIDO_2_1" in versions

    @staticmethod
    def pin_protocols(behaviour):
        wanted = behaviour.get("pin_protocols")
        if isinstance(wanted, list) and wanted and all(p in (1, 2) for p in wanted):
            return wanted
        return [2, 1]

    def protocol(self, behaviour, number):
        if number not in self.pin_protocols(behaviour):
            raise CtapError(ERR_INVALID_PARAMETER, "unsupported pinUvAuthProtocol")
        return Protocol(number)

    @staticmethod
    def uv_supported(behaviour):
        return behaviour.get("uv") is True

    @staticmethod
    def rk_supported(behaviour):
        return behaviour.get("rk") is True

    # -- authenticatorGetInfo

    def get_info(self, state, behaviour):
        options = {
            "rk": self.rk_supported(behaviour),
            "up": True,
            "plat": False,
            "clientPin": state["pin_hash"] is not None,
        }
        if self.ctap21(behaviour):
            options["pinUvAuthToken"] = True
        if self.uv_supported(behaviour):
            options["uv"] = True
        versions = ["FIDO_2_0", "FIDO_2_1"] if self.ctap21(behaviour) else ["FIDO_2_0"]
        return {
            1: versions,
            3: AAGUID,
            4: options,
            5: 1200,
            6: self.pin_protocols(behaviour),
            7: 8,
            8: 128,
            9: ["usb"],
            0x0A: [{"alg": COSE_ES256, "type": "public-key"},
                   {"alg": COSE_EDDSA, "type": "public-key"}],
            0x0D: PIN_MIN_LENGTH,
            0x0E: 1,
        }

    # -- pinUvAuthParam handling shared by makeCredential and getAssertion

    def check_pin_uv_auth(self, state, behaviour, params, key_param, key_proto,
                          client_data_hash, permission, rp_id, user):
        """Returns True when the request carries a valid pinUvAuthParam (UV done)."""
        if key_param not in params:
            return False
        param = params[key_param]
        if not isinstance(param, bytes):
            raise CtapError(ERR_CBOR_UNEXPECTED_TYPE, "pinUvAuthParam not bytes")
        if len(param) == 0:
            # The "touch to select" probe of CTAP 2.0 platforms.
            self.wait_for_user(behaviour, user)
            if state["pin_hash"] is None:
                raise CtapError(ERR_PIN_NOT_SET, "empty pinUvAuthParam, no PIN")
            raise CtapError(ERR_PIN_INVALID, "empty pinUvAuthParam")
        proto = _require(params, key_proto, int, "pinUvAuthProtocol")
        protocol = self.protocol(behaviour, proto)
        if self.pin_token is None:
            raise CtapError(ERR_PIN_AUTH_INVALID, "no pinUvAuthToken issued")
        token, permissions, token_rp = self.pin_token
        if not protocol.verify(token, client_data_hash, param):
            raise CtapError(ERR_PIN_AUTH_INVALID, "pinUvAuthParam does not verify")
        if not permissions & permission:
            raise CtapError(ERR_PIN_AUTH_INVALID, "token lacks the permission")
        if token_rp is not None and token_rp != rp_id:
            raise CtapError(ERR_PIN_AUTH_INVALID, "token bound to another RP")
        if token_rp is None and self.ctap21(behaviour):
            self.pin_token = (token, permissions, rp_id)   # CTAP 2.1: bind to first RP
        return True

    # -- authData and signing, with the tamper switches

    def rp_id_hash(self, behaviour, rp_id):
        if behaviour.get("wrong_rp_id_hash"):
            return hashlib.sha256(("wrong." + rp_id).encode("utf-8")).digest()
        return hashlib.sha256(rp_id.encode("utf-8")).digest()

    @staticmethod
    def reported_counter(behaviour, real):
        if behaviour.get("counter_zero"):
            return 0
        forced = behaviour.get("counter")
        if isinstance(forced, int) and not isinstance(forced, bool) and \
                0 <= forced < 2 ** 32:
            return forced
        return real

    @staticmethod
    def flags(behaviour, up, uv, extra=0):
        flags = extra
        if up and not behaviour.get("up_clear"):
            flags |= FLAG_UP
        if uv and not behaviour.get("uv_clear"):
            flags |= FLAG_UV
        return flags

    @staticmethod
    def tamper(behaviour, auth_data, signature):
        tamper_ad = behaviour.get("tamper_auth_data")
        if tamper_ad is True:
            auth_data = auth_data[:32] + bytes([auth_data[32] ^ FLAG_RFU2]) + auth_data[33:]
        elif isinstance(tamper_ad, int) and not isinstance(tamper_ad, bool) and \
                0 <= tamper_ad < len(auth_data):
            auth_data = auth_data[:tamper_ad] + bytes([auth_data[tamper_ad] ^ 0x01]) + \
                auth_data[tamper_ad + 1:]
        if behaviour.get("tamper_signature"):
            signature = signature[:-1] + bytes([signature[-1] ^ 0x01])
        return auth_data, signature

    def signed(self, behaviour, cred, auth_data, client_data_hash):
        raw = bytes.fromhex(cred["private_key"])
        signature = sign(cred["alg"], raw, auth_data + client_data_hash)
        self_check_signature(cred["alg"], raw, auth_data + client_data_hash, signature)
        return self.tamper(behaviour, auth_data, signature)

    # -- authenticatorMakeCredential

    def make_credential(self, state, behaviour, params, user):
        cdh = _require(params, 1, bytes, "clientDataHash")
        rp = _require(params, 2, dict, "rp")
        user_entity = _require(params, 3, dict, "user")
        cred_params = _require(params, 4, list, "pubKeyCredParams")
        exclude = _optional(params, 5, list, "excludeList")
        _optional(params, 6, dict, "extensions")
        opts = _options(params, 7)
        rp_id = rp.get("id")
        if not isinstance(rp_id, str):
            raise CtapError(ERR_CBOR_UNEXPECTED_TYPE, "rp.id not text")
        if not isinstance(user_entity.get("id"), bytes):
            raise CtapError(ERR_CBOR_UNEXPECTED_TYPE, "user.id not bytes")

        alg = None
        for entry in cred_params:
            if not isinstance(entry, dict) or not isinstance(entry.get("type"), str):
                raise CtapError(ERR_CBOR_UNEXPECTED_TYPE, "bad pubKeyCredParams entry")
            if entry["type"] == "public-key" and entry.get("alg") in SUPPORTED_ALGS and \
                    not isinstance(entry.get("alg"), bool):
                alg = entry["alg"]
                break
        if alg is None:
            raise CtapError(ERR_UNSUPPORTED_ALGORITHM, "no ES256/EdDSA in pubKeyCredParams")

        if opts.get("rk") and not self.rk_supported(behaviour):
            raise CtapError(ERR_UNSUPPORTED_OPTION, "rk not supported (switch rk)")
        if "up" in opts and opts["up"] is False:
            raise CtapError(ERR_INVALID_OPTION, "up=false in makeCredential")

        uv = self.check_pin_uv_auth(state, behaviour, params, 8, 9, cdh, PERM_MC, rp_id,
                                    user)
        if not uv and opts.get("uv"):
            if not self.uv_supported(behaviour):
                raise CtapError(ERR_INVALID_OPTION, "uv requested, key has no built-in UV")
            uv = True
        if not uv and state["pin_hash"] is not None:
            raise CtapError(ERR_PUAT_REQUIRED, "PIN set: pinUvAuthParam required")

        excluded = set(_descriptor_ids(exclude, "excludeList"))
        for cred in state["credentials"]:
            if cred["rp_id"] == rp_id and unb64(cred["id"]) in excluded:
                self.wait_for_user(behaviour, user)
                raise CtapError(ERR_CREDENTIAL_EXCLUDED, "credential in excludeList")

        self.wait_for_user(behaviour, user)

        cred_id = secrets.token_bytes(32)
        raw = generate_key(alg)
        cred = {
            "id": b64(cred_id),
            "rp_id": rp_id,
            "alg": alg,
            "private_key": raw.hex(),
            "sign_count": 0,
            "resident": bool(opts.get("rk")),
            "user": {k: (b64(v) if isinstance(v, bytes) else v)
                     for k, v in user_entity.items() if k in ("id", "name", "displayName")},
            "created": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        }
        state["credentials"].append(cred)
        self.save_state(state)

        attested = AAGUID + len(cred_id).to_bytes(2, "big") + cred_id + \
            ctap_cbor.encode(cose_public_key(alg, raw))
        counter = self.reported_counter(behaviour, 0)
        auth_data = self.rp_id_hash(behaviour, rp_id) + \
            bytes([self.flags(behaviour, True, uv, FLAG_AT)]) + \
            counter.to_bytes(4, "big") + attested
        if behaviour.get("attestation") == "none":
            auth_data, _ = self.tamper(behaviour, auth_data, b"\x00")
            return {1: "none", 2: auth_data, 3: {}}
        auth_data, signature = self.signed(behaviour, cred, auth_data, cdh)
        return {1: "packed", 2: auth_data, 3: {"alg": alg, "sig": signature}}

    # -- authenticatorGetAssertion / GetNextAssertion

    def get_assertion(self, state, behaviour, params, user):
        rp_id = _require(params, 1, str, "rpId")
        cdh = _require(params, 2, bytes, "clientDataHash")
        allow = _optional(params, 3, list, "allowList")
        _optional(params, 4, dict, "extensions")
        opts = _options(params, 5)
        if "rk" in opts:
            raise CtapError(ERR_INVALID_OPTION, "rk option in getAssertion")
        up = opts.get("up", True)

        uv = self.check_pin_uv_auth(state, behaviour, params, 6, 7, cdh, PERM_GA, rp_id,
                                    user)
        if not uv and opts.get("uv"):
            if not self.uv_supported(behaviour):
                raise CtapError(ERR_INVALID_OPTION, "uv requested, key has no built-in UV")
            uv = True

        mine = [c for c in state["credentials"] if c["rp_id"] == rp_id]
        if allow:
            wanted = _descriptor_ids(allow, "allowList")
            by_id = {unb64(c["id"]): c for c in mine}
            found = [by_id[i] for i in wanted if i in by_id]
            found = found[:1]
        else:
            found = [c for c in reversed(mine) if c.get("resident")]
        if behaviour.get("unknown_credential"):
            found = []
        if not found:
            raise CtapError(ERR_NO_CREDENTIALS, "no credential for %s" % rp_id)

        if up:
            self.wait_for_user(behaviour, user)

        context = {"rp_id": rp_id, "cdh": cdh, "up": up, "uv": uv,
                   "ids": [c["id"] for c in found[1:]], "with_user": not allow}
        response = self.assertion(state, behaviour, found[0], context)
        if len(found) > 1:
            response[5] = len(found)
            self.next_assertions = context
        return response

    def get_next_assertion(self, state, behaviour):
        context = self.next_assertions
        if not context or not context["ids"]:
            self.next_assertions = None
            raise CtapError(ERR_NOT_ALLOWED, "no pending getNextAssertion")
        cred_id = context["ids"].pop(0)
        matches = [c for c in state["credentials"] if c["id"] == cred_id]
        if not matches:
            raise CtapError(ERR_NO_CREDENTIALS, "credential vanished")
        return self.assertion(state, behaviour, matches[0], context)

    def assertion(self, state, behaviour, cred, context):
        cred["sign_count"] = (cred.get("sign_count", 0) + 1) % 2 ** 32
        self.save_state(state)
        counter = self.reported_counter(behaviour, cred["sign_count"])
        auth_data = self.rp_id_hash(behaviour, context["rp_id"]) + \
            bytes([self.flags(behaviour, context["up"], context["uv"])]) + \
            counter.to_bytes(4, "big")
        auth_data, signature = self.signed(behaviour, cred, auth_data, context["cdh"])
        response = {1: {"id": unb64(cred["id"]), "type": "public-key"},
                    2: auth_data, 3: signature}
        if context["with_user"]:
            response[4] = {"id": unb64(cred["user"]["id"])}
        return response

    # -- authenticatorClientPIN

    def client_pin(self, state, behaviour, params, user):
        sub = _require(params, 2, int, "subCommand")
        if sub == 0x01:  # getPINRetries
            return {3: state["pin_retries"], 4: False}
        if sub == 0x07:  # getUVRetries
            if not self.uv_supported(behaviour):
                raise CtapError(ERR_INVALID_PARAMETER, "no built-in UV")
            return {5: state["uv_retries"]}
        proto = _require(params, 1, int, "pinUvAuthProtocol")
        protocol = self.protocol(behaviour, proto)
        if sub == 0x02:  # getKeyAgreement
            return {1: self.key_agreement.cose_public_key()}
        peer = _require(params, 3, dict, "keyAgreement")
        try:
            shared = self.key_agreement.shared_secret(protocol, peer)
        except PinProtocolError as exc:
            raise CtapError(ERR_INVALID_PARAMETER, str(exc))
        if sub == 0x03:
            return self.set_pin(state, params, protocol, shared)
        if sub == 0x04:
            return self.change_pin(state, params, protocol, shared)
        if sub in (0x06, 0x09) and not self.ctap21(behaviour):
            raise CtapError(ERR_INVALID_PARAMETER, "CTAP 2.0 key: no subcommand %d" % sub)
        if sub in (0x05, 0x09):
            return self.pin_token_from_pin(state, params, protocol, shared, sub)
        if sub == 0x06:
            return self.pin_token_from_uv(state, behaviour, params, protocol, shared, user)
        raise CtapError(ERR_INVALID_PARAMETER, "unsupported clientPIN subcommand %d" % sub)

    def decrypt_new_pin(self, protocol, shared, new_pin_enc):
        try:
            padded = protocol.decrypt(shared, new_pin_enc)
        except PinProtocolError:
            raise CtapError(ERR_INVALID_PARAMETER, "newPinEnc undecryptable")
        if len(padded) < 64:
            raise CtapError(ERR_INVALID_PARAMETER, "padded PIN shorter than 64 bytes")
        pin = padded.split(b"\x00", 1)[0]
        if len(pin) < PIN_MIN_LENGTH or len(pin) > 63:
            raise CtapError(ERR_PIN_POLICY_VIOLATION, "PIN length")
        try:
            return pin.decode("utf-8")
        except UnicodeDecodeError:
            raise CtapError(ERR_PIN_POLICY_VIOLATION, "PIN not UTF-8")

    def set_pin(self, state, params, protocol, shared):
        auth = _require(params, 4, bytes, "pinUvAuthParam")
        new_pin_enc = _require(params, 5, bytes, "newPinEnc")
        if state["pin_hash"] is not None:
            raise CtapError(ERR_NOT_ALLOWED, "PIN already set")
        if not protocol.verify(shared, new_pin_enc, auth):
            raise CtapError(ERR_PIN_AUTH_INVALID, "setPIN auth does not verify")
        pin = self.decrypt_new_pin(protocol, shared, new_pin_enc)
        state["pin_hash"] = self.pin_hash(pin)
        state["pin_retries"] = PIN_RETRIES_MAX
        self.save_state(state)
        return None

    def check_pin_hash(self, state, protocol, shared, pin_hash_enc):
        """The retry-counting PIN comparison shared by changePIN and the token calls."""
        if state["pin_hash"] is None:
            raise CtapError(ERR_PIN_NOT_SET, "no PIN set")
        if state["pin_retries"] <= 0:
            raise CtapError(ERR_PIN_BLOCKED, "PIN blocked")
        if self.consecutive_pin_failures >= 3:
            raise CtapError(ERR_PIN_AUTH_BLOCKED, "3 wrong PINs since power-up")
        state["pin_retries"] -= 1
        self.save_state(state)
        try:
            given = protocol.decrypt(shared, pin_hash_enc)
        except PinProtocolError:
            given = b""
        if given[:16].hex() != state["pin_hash"] or len(given) != 16:
            self.key_agreement.regenerate()
            self.consecutive_pin_failures += 1
            if state["pin_retries"] <= 0:
                raise CtapError(ERR_PIN_BLOCKED, "wrong PIN; now blocked")
            if self.consecutive_pin_failures >= 3:
                raise CtapError(ERR_PIN_AUTH_BLOCKED, "wrong PIN 3 times")
            raise CtapError(ERR_PIN_INVALID, "wrong PIN")
        state["pin_retries"] = PIN_RETRIES_MAX
        self.consecutive_pin_failures = 0
        self.save_state(state)

    def change_pin(self, state, params, protocol, shared):
        auth = _require(params, 4, bytes, "pinUvAuthParam")
        new_pin_enc = _require(params, 5, bytes, "newPinEnc")
        pin_hash_enc = _require(params, 6, bytes, "pinHashEnc")
        if state["pin_hash"] is None:
            raise CtapError(ERR_PIN_NOT_SET, "no PIN set")
        if not protocol.verify(shared, new_pin_enc + pin_hash_enc, auth):
            raise CtapError(ERR_PIN_AUTH_INVALID, "changePIN auth does not verify")
        self.check_pin_hash(state, protocol, shared, pin_hash_enc)
        pin = self.decrypt_new_pin(protocol, shared, new_pin_enc)
        state["pin_hash"] = self.pin_hash(pin)
        self.pin_token = None
        self.save_state(state)
        return None

    def issue_token(self, protocol, shared, permissions, rp_id):
        token = secrets.token_bytes(32)
        self.pin_token = (token, permissions, rp_id)
        return {2: protocol.encrypt(shared, token)}

    @staticmethod
    def requested_permissions(params):
        permissions = _require(params, 9, int, "permissions")
        rp_id = _optional(params, 0x0A, str, "rpId")
        if permissions == 0:
            raise CtapError(ERR_INVALID_PARAMETER, "permissions 0")
        if permissions & ~(PERM_MC | PERM_GA):
            raise CtapError(ERR_UNAUTHORIZED_PERMISSION, "only mc/ga permissions exist here")
        return permissions, rp_id

    def pin_token_from_pin(self, state, params, protocol, shared, sub):
        pin_hash_enc = _require(params, 6, bytes, "pinHashEnc")
        if sub == 0x09:
            permissions, rp_id = self.requested_permissions(params)
        else:
            permissions, rp_id = PERM_MC | PERM_GA, None
        self.check_pin_hash(state, protocol, shared, pin_hash_enc)
        return self.issue_token(protocol, shared, permissions, rp_id)

    def pin_token_from_uv(self, state, behaviour, params, protocol, shared, user):
        if not self.uv_supported(behaviour):
            raise CtapError(ERR_NOT_ALLOWED, "no built-in UV (switch uv)")
        permissions, rp_id = self.requested_permissions(params)
        self.wait_for_user(behaviour, user)
        return self.issue_token(protocol, shared, permissions, rp_id)
