#!/usr/bin/python3
"""Self-test of the virtual key at the CTAPHID and CTAP2 level, through the emulated
/dev/hidraw0 (the same PTY path the real clients use), for what libfido2's tools do
not exercise: framing errors, busy channels, KEEPALIVE/CANCEL, stale reports,
algorithm order, excludeList, discoverable credentials, canonical CBOR.

Usage: /usr/bin/python3 tests/fido/test_virtual_key.py [-v]
It starts its own key in a fresh /var/tmp directory, re-runs itself under the
umockdev preload, and removes everything afterwards.
"""

import hashlib
import json
import os
import select
import shutil
import subprocess
import sys
import tempfile
import time
import unittest

HERE = os.path.dirname(os.path.abspath(__file__))
sys.dont_write_bytecode = True   # no __pycache__ in the source tree
sys.path.insert(0, HERE)

import ctap_cbor  # noqa: E402

BROADCAST = b"\xff\xff\xff\xff"
KEEPALIVE, ERROR, INIT, PING, MSG, CBOR, CANCEL, LOCK = 0x3B, 0x3F, 0x06, 0x01, 0x03, 0x10, 0x11, 0x04


class Hid:
    """A minimal CTAPHID client on the emulated node."""

    def __init__(self):
        self.fd = os.open("/dev/hidraw0", os.O_RDWR | os.O_NOCTTY)
        self.keepalives = []

    def close(self):
        os.close(self.fd)

    def write(self, report):
        assert len(report) <= 64
        os.write(self.fd, b"\x00" + report.ljust(64, b"\x00"))

    def read(self, timeout=3.0):
        buf = b""
        deadline = time.monotonic() + timeout
        while len(buf) < 64:
            left = deadline - time.monotonic()
            if left <= 0 or not select.select([self.fd], [], [], left)[0]:
                return None
            buf += os.read(self.fd, 64 - len(buf))
        return buf

    def send(self, cid, cmd, data=b""):
        self.write(cid + bytes([0x80 | cmd]) + len(data).to_bytes(2, "big") + data[:57])
        rest, seq = data[57:], 0
        while rest:
            self.write(cid + bytes([seq]) + rest[:59])
            rest, seq = rest[59:], seq + 1

    def recv(self, cid, timeout=3.0):
        """(cmd, payload) of the next message on `cid`, skipping keepalives."""
        while True:
            report = self.read(timeout)
            if report is None:
                raise TimeoutError("no answer")
            if report[:4] != cid or not report[4] & 0x80:
                continue
            cmd = report[4] & 0x7F
            if cmd == KEEPALIVE:
                self.keepalives.append((time.monotonic(), report[7]))
                continue
            length = int.from_bytes(report[5:7], "big")
            data, seq = report[7:7 + length], 0
            while len(data) < length:
                cont = self.read(timeout)
                if cont is None:
                    raise TimeoutError("continuation missing")
                if cont[:4] != cid or cont[4] != seq:
                    raise ValueError("bad continuation: cid %s seq %d" % (cont[:4].hex(), cont[4]))
                data += cont[5:5 + length - len(data)]
                seq += 1
            return cmd, data

    def init(self):
        nonce = os.urandom(8)
        self.send(BROADCAST, INIT, nonce)
        while True:
            cmd, data = self.recv(BROADCAST)
            if cmd == INIT and data[:8] == nonce:
                return data[8:12]

    def cbor(self, cid, command, params=None, timeout=3.0):
        body = bytes([command]) + (ctap_cbor.encode(params) if params is not None else b"")
        self.send(cid, CBOR, body)
        cmd, data = self.recv(cid, timeout)
        assert cmd == CBOR, "expected a CBOR answer, got 0x%02x %s" % (cmd, data.hex())
        return data[0], (ctap_cbor.decode(data[1:]) if len(data) > 1 else None)


def behaviour(switches):
    path = os.path.join(os.environ["VKEY_DIR"], "behaviour.json")
    with open(path + ".tmp", "w") as handle:
        json.dump(switches, handle)
    os.replace(path + ".tmp", path)


def make_credential(hid, cid, rp="example.org", algs=(-7,), exclude=None, rk=False,
                    user_id=None):
    params = {1: os.urandom(32), 2: {"id": rp}, 3: {"id": user_id or os.urandom(8), "name": "u"},
              4: [{"alg": a, "type": "public-key"} for a in algs]}
    if exclude:
        params[5] = [{"id": i, "type": "public-key"} for i in exclude]
    if rk:
        params[7] = {"rk": True}
    return hid.cbor(cid, 0x01, params)


def parse_cred(response):
    auth = response[2]
    cred_len = int.from_bytes(auth[53:55], "big")
    cred_id = auth[55:55 + cred_len]
    cose = ctap_cbor.decode(auth[55 + cred_len:])
    return cred_id, cose


class CtapHid(unittest.TestCase):
    def setUp(self):
        behaviour({})
        self.hid = Hid()
        self.cid = self.hid.init()

    def tearDown(self):
        self.hid.close()
        behaviour({})

    def test_init_echoes_nonce_and_allocates_distinct_channels(self):
        other = self.hid.init()
        self.assertNotEqual(self.cid, other)
        self.assertNotIn(self.cid, (BROADCAST, b"\x00\x00\x00\x00"))

    def test_init_reply_layout(self):
        nonce = os.urandom(8)
        self.hid.send(BROADCAST, INIT, nonce)
        cmd, data = self.hid.recv(BROADCAST)
        self.assertEqual((cmd, len(data), data[:8]), (INIT, 17, nonce))
        self.assertEqual(data[12], 2)                  # CTAPHID protocol version
        self.assertEqual(data[16] & 0x0D, 0x0D)        # WINK | CBOR | NMSG

    def test_ping_multi_packet_echo(self):
        payload = os.urandom(1000)
        self.hid.send(self.cid, PING, payload)
        self.assertEqual(self.hid.recv(self.cid), (PING, payload))

    def test_unknown_command_and_msg_and_lock_are_invalid_cmd(self):
        for cmd in (0x22, MSG, LOCK):
            self.hid.send(self.cid, cmd, b"\x00\x01")
            self.assertEqual(self.hid.recv(self.cid), (ERROR, b"\x01"), hex(cmd))

    def test_unallocated_channel(self):
        self.hid.send(b"\x12\x34\x56\x78", PING, b"x")
        self.assertEqual(self.hid.recv(b"\x12\x34\x56\x78"), (ERROR, b"\x0b"))

    def test_wrong_sequence_number(self):
        self.hid.write(self.cid + bytes([0x80 | PING]) + (100).to_bytes(2, "big") + b"a" * 57)
        self.hid.write(self.cid + bytes([1]) + b"b" * 43)
        self.assertEqual(self.hid.recv(self.cid), (ERROR, b"\x04"))

    def test_missing_continuation_times_out(self):
        self.hid.write(self.cid + bytes([0x80 | PING]) + (100).to_bytes(2, "big") + b"a" * 57)
        start = time.monotonic()
        self.assertEqual(self.hid.recv(self.cid), (ERROR, b"\x05"))
        self.assertGreater(time.monotonic() - start, 0.3)

    def test_other_channel_is_busy_while_waiting_for_touch(self):
        cred_id, _ = parse_cred(make_credential(self.hid, self.cid)[1])
        other = self.hid.init()
        behaviour({"touch": "delay:600"})
        self.hid.send(self.cid, CBOR, b"\x02" + ctap_cbor.encode(
            {1: "example.org", 2: os.urandom(32), 3: [{"id": cred_id, "type": "public-key"}]}))
        time.sleep(0.2)
        self.hid.send(other, PING, b"hi")
        self.assertEqual(self.hid.recv(other), (ERROR, b"\x06"))
        cmd, data = self.hid.recv(self.cid)
        self.assertEqual((cmd, data[0]), (CBOR, 0))

    def test_keepalive_every_100ms_then_cancel(self):
        cred_id, _ = parse_cred(make_credential(self.hid, self.cid)[1])
        behaviour({"touch": "never"})
        self.hid.send(self.cid, CBOR, b"\x02" + ctap_cbor.encode(
            {1: "example.org", 2: os.urandom(32), 3: [{"id": cred_id, "type": "public-key"}]}))
        deadline = time.monotonic() + 0.55
        while time.monotonic() < deadline:
            report = self.hid.read(0.3)
            self.assertIsNotNone(report)
            self.assertEqual(report[:5], self.cid + bytes([0x80 | KEEPALIVE]))
            self.hid.keepalives.append((time.monotonic(), report[7]))
        self.assertTrue(all(status == 2 for _, status in self.hid.keepalives))  # UPNEEDED
        self.assertGreaterEqual(len(self.hid.keepalives), 4)
        self.hid.send(self.cid, CANCEL)
        cmd, data = self.hid.recv(self.cid)
        self.assertEqual((cmd, data), (CBOR, b"\x2d"))  # CTAP2_ERR_KEEPALIVE_CANCEL

    def test_stale_reports_of_a_vanished_client_are_dropped(self):
        # A client writes INIT and quits without reading: the answer stays queued.
        self.hid.write(BROADCAST + bytes([0x80 | INIT]) + b"\x00\x08" + b"stalenon")
        time.sleep(0.1)
        self.hid.close()
        self.hid = Hid()
        nonce = os.urandom(8)
        self.hid.send(BROADCAST, INIT, nonce)
        report = self.hid.read()
        self.assertEqual(report[7:15], nonce, "first report read was a stale one")
        self.cid = report[15:19]

    def test_bad_framing_seq_starts_continuations_at_one(self):
        behaviour({"bad_framing": {"kind": "seq", "commands": ["getInfo"]}})
        self.hid.send(self.cid, CBOR, b"\x04")
        self.hid.read()
        self.assertEqual(self.hid.read()[4], 1)

    def test_bad_framing_reorder_swaps_first_two_continuations(self):
        behaviour({"bad_framing": {"kind": "reorder", "commands": "getInfo"}})
        self.hid.send(self.cid, CBOR, b"\x04")
        reports = [self.hid.read() for _ in range(3)]
        self.assertEqual([r[4] for r in reports[1:]], [1, 0])
        self.assertTrue(all(r[:4] == self.cid for r in reports))

    def test_silent_answers_nothing(self):
        behaviour({"silent": True})
        self.hid.send(self.cid, PING, b"x")
        self.assertIsNone(self.hid.read(0.5))


class Ctap2(unittest.TestCase):
    def setUp(self):
        behaviour({})
        self.hid = Hid()
        self.cid = self.hid.init()

    def tearDown(self):
        self.hid.close()
        behaviour({})

    def test_get_info_is_canonical_cbor(self):
        self.hid.send(self.cid, CBOR, b"\x04")
        _, data = self.hid.recv(self.cid)
        self.assertEqual(data[0], 0)
        info = ctap_cbor.decode(data[1:])
        self.assertEqual(ctap_cbor.encode(info), data[1:])
        self.assertEqual(info[1], ["FIDO_2_0", "FIDO_2_1"])
        self.assertEqual(info[3], hashlib.sha256(b"pam_mfa virtual FIDO2 key").digest()[:16])
        self.assertEqual(list(info[4]), ["rk", "up", "plat", "clientPin", "pinUvAuthToken"])

    def test_algorithm_follows_request_order(self):
        status, resp = make_credential(self.hid, self.cid, algs=(-8, -7))
        self.assertEqual(status, 0)
        self.assertEqual(parse_cred(resp)[1], {1: 1, 3: -8, -1: 6, -2: parse_cred(resp)[1][-2]})
        self.assertEqual(resp[3]["alg"], -8)
        self.assertEqual(len(resp[3]["sig"]), 64)
        status, resp = make_credential(self.hid, self.cid, algs=(-257, -7, -8))
        self.assertEqual(parse_cred(resp)[1][3], -7)
        self.assertEqual(sorted(parse_cred(resp)[1]), [-3, -2, -1, 1, 3])

    def test_unsupported_algorithm(self):
        self.assertEqual(make_credential(self.hid, self.cid, algs=(-257,))[0], 0x26)

    def test_exclude_list(self):
        cred_id, _ = parse_cred(make_credential(self.hid, self.cid)[1])
        self.assertEqual(make_credential(self.hid, self.cid, exclude=[cred_id])[0], 0x19)
        self.assertEqual(make_credential(self.hid, self.cid, rp="other.org",
                                         exclude=[cred_id])[0], 0)

    def test_assertion_counter_and_flags(self):
        cred_id, _ = parse_cred(make_credential(self.hid, self.cid)[1])
        req = {1: "example.org", 2: os.urandom(32), 3: [{"id": cred_id, "type": "public-key"}]}
        counters = []
        for _ in range(3):
            status, resp = self.hid.cbor(self.cid, 0x02, req)
            self.assertEqual(status, 0)
            self.assertEqual(resp[1]["id"], cred_id)
            self.assertEqual(resp[2][:32], hashlib.sha256(b"example.org").digest())
            self.assertEqual(resp[2][32], 0x01)
            counters.append(int.from_bytes(resp[2][33:37], "big"))
            self.assertNotIn(5, resp)   # numberOfCredentials only without allowList
        self.assertEqual(counters, [1, 2, 3])
        behaviour({"counter": 1})
        self.assertEqual(self.hid.cbor(self.cid, 0x02, req)[1][2][33:37], b"\0\0\0\1")
        behaviour({})
        self.assertEqual(self.hid.cbor(self.cid, 0x02, req)[1][2][33:37], b"\0\0\0\5")
        req[5] = {"up": False}
        behaviour({"touch": "never"})
        status, resp = self.hid.cbor(self.cid, 0x02, req)
        self.assertEqual((status, resp[2][32]), (0, 0x00))

    def test_no_allow_list_without_resident_credentials(self):
        self.assertEqual(self.hid.cbor(self.cid, 0x02, {1: "nobody.org", 2: os.urandom(32)})[0],
                         0x2E)

    def test_rk_rejected_unless_switched_on(self):
        self.assertEqual(make_credential(self.hid, self.cid, rk=True)[0], 0x2B)

    def test_discoverable_credentials_and_get_next_assertion(self):
        behaviour({"rk": True})
        users = [b"user-one", b"user-two"]
        for user in users:
            self.assertEqual(make_credential(self.hid, self.cid, rp="rk.example", rk=True,
                                             user_id=user)[0], 0)
        status, first = self.hid.cbor(self.cid, 0x02, {1: "rk.example", 2: os.urandom(32)})
        self.assertEqual((status, first[5]), (0, 2))
        status, second = self.hid.cbor(self.cid, 0x08)
        self.assertEqual(status, 0)
        self.assertEqual(sorted([first[4]["id"], second[4]["id"]]), sorted(users))
        self.assertEqual(self.hid.cbor(self.cid, 0x08)[0], 0x30)

    def test_invalid_cbor_and_missing_parameters(self):
        self.hid.send(self.cid, CBOR, b"\x01\xa1\x01")
        self.assertEqual(self.hid.recv(self.cid), (CBOR, b"\x12"))
        self.assertEqual(self.hid.cbor(self.cid, 0x01, {1: os.urandom(32)})[0], 0x14)
        self.assertEqual(self.hid.cbor(self.cid, 0x03)[0], 0x01)

    def test_malformed_cbor_switch(self):
        behaviour({"malformed_cbor": "getInfo"})
        self.hid.send(self.cid, CBOR, b"\x04")
        cmd, data = self.hid.recv(self.cid)
        self.assertEqual(data[0], 0)
        with self.assertRaises(ctap_cbor.CborError):
            ctap_cbor.decode(data[1:])


class Cbor(unittest.TestCase):
    def test_canonical_key_order(self):
        cose = {-3: b"y", -2: b"x", -1: 1, 3: -7, 1: 2}
        self.assertEqual(ctap_cbor.encode(cose).hex(), "a5010203262001214178224179")
        self.assertEqual(list(ctap_cbor.decode(ctap_cbor.encode({"type": 1, "alg": 2}))),
                         ["alg", "type"])

    def test_round_trip(self):
        value = {1: [True, False, None, -1, 2 ** 40, "é", b"\x00" * 300], "k": {}}
        self.assertEqual(ctap_cbor.decode(ctap_cbor.encode(value)), value)

    def test_rejects_trailing_and_truncated(self):
        for bad in (b"\x01\x02", b"\x58\x05ab", b"\xa1\x01", b"\x9f\xff"):
            with self.assertRaises(ctap_cbor.CborError):
                ctap_cbor.decode(bad)


def outer():
    """Start a key, run the tests under the preload, clean up."""
    directory = tempfile.mkdtemp(prefix="vkey-selftest.", dir="/var/tmp")
    env = {k: v for k, v in os.environ.items() if k not in ("LD_PRELOAD", "UMOCKDEV_DIR")}
    log = open(os.path.join(directory, "key.log"), "w")
    key = subprocess.Popen(["/usr/bin/python3", os.path.join(HERE, "virtual_key.py"),
                            "--dir", directory], env=env, stderr=log)
    try:
        for _ in range(100):
            if os.path.exists(os.path.join(directory, "ready")) or key.poll() is not None:
                break
            time.sleep(0.1)
        if not os.path.exists(os.path.join(directory, "ready")):
            print(open(os.path.join(directory, "key.log")).read())
            return 1
        with open(os.path.join(directory, "umockdev_dir")) as handle:
            umockdev_dir = handle.read().strip()
        env.update(LD_PRELOAD="libumockdev-preload.so.0", UMOCKDEV_DIR=umockdev_dir,
                   VKEY_DIR=directory)
        result = subprocess.run(["/usr/bin/python3", os.path.abspath(__file__)] + sys.argv[1:],
                                env=env, timeout=300)
        return result.returncode
    finally:
        key.terminate()
        try:
            key.wait(5)
        except subprocess.TimeoutExpired:
            key.kill()
        log.close()
        if os.environ.get("VKEY_KEEP"):
            print("kept", directory)
        else:
            shutil.rmtree(directory, ignore_errors=True)


if __name__ == "__main__":
    if "VKEY_DIR" not in os.environ:
        sys.exit(outer())
    unittest.main()
