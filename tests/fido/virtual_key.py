#!/usr/bin/python3
"""A virtual FIDO2 security key behind a umockdev-emulated /dev/hidraw0.

Usage: /usr/bin/python3 virtual_key.py --dir DIR [--verbose] [--private]

Clients reach the key through their real hidraw code path by running with
    LD_PRELOAD=libumockdev-preload.so.0 UMOCKDEV_DIR="$(cat DIR/umockdev_dir)"
The key serves until SIGTERM/SIGINT, then removes its testbed. See README.md.

Invariant: exactly one thread (the responder) reads and writes the PTY that stands
for the hidraw node; umockdev's worker thread only answers ioctls and, when a client
opens the node, asks the responder to drop stale reports and waits until it has.
"""

import argparse
import errno
import fcntl
import gc
import os
import select
import shutil
import signal
import subprocess
import sys
import termios
import threading
import time
import traceback
import tty

HERE = os.path.dirname(os.path.abspath(__file__))
sys.dont_write_bytecode = True   # no __pycache__ in the source tree
sys.path.insert(0, HERE)

import authenticator  # noqa: E402
from authenticator import Abandoned, Authenticator, Cancelled, log, scope_applies  # noqa: E402

# ---------------------------------------------------------------- CTAPHID constants

REPORT = 64
INIT_DATA = REPORT - 7
CONT_DATA = REPORT - 5
MAX_MESSAGE = INIT_DATA + 128 * CONT_DATA   # 7609 bytes
BROADCAST = 0xFFFFFFFF
TRANSACTION_TIMEOUT = 0.5                   # seconds between packets of one message

CTAPHID_PING = 0x01
CTAPHID_MSG = 0x03
CTAPHID_LOCK = 0x04
CTAPHID_INIT = 0x06
CTAPHID_WINK = 0x08
CTAPHID_CBOR = 0x10
CTAPHID_CANCEL = 0x11
CTAPHID_KEEPALIVE = 0x3B
CTAPHID_ERROR = 0x3F

ERR_INVALID_CMD = 0x01
ERR_INVALID_PAR = 0x02
ERR_INVALID_LEN = 0x03
ERR_INVALID_SEQ = 0x04
ERR_MSG_TIMEOUT = 0x05
ERR_CHANNEL_BUSY = 0x06
ERR_INVALID_CHANNEL = 0x0B

KEEPALIVE_PROCESSING = 1
KEEPALIVE_UPNEEDED = 2

CAP_WINK = 0x01
CAP_CBOR = 0x04
CAP_NMSG = 0x08

# ---------------------------------------------------------------- the emulated device

VENDOR_ID = 0x1209
PRODUCT_ID = 0x000A
MANUFACTURER = "pam_mfa tests"
PRODUCT = "pam_mfa virtual FIDO2 key"
SERIAL = "VK0001"
# Usage page 0xF1D0 (FIDO), usage 1 (CTAPHID), 64-byte input and output reports.
REPORT_DESCRIPTOR = bytes.fromhex(
    "06D0F10901A1010920150026FF007508954081020921150026FF00750895409102C0")

USB_DEV = "/devices/pci0000:00/0000:00:14.0/usb1/1-1"
USB_IF = USB_DEV + "/1-1:1.0"
HID_NAME = "0003:%04X:%04X.0001" % (VENDOR_ID, PRODUCT_ID)
HID_DEV = USB_IF + "/" + HID_NAME
HIDRAW_DEV = HID_DEV + "/hidraw/hidraw0"

TIOCGPTPEER = 0x5441

# hidraw ioctl numbers: _IOR('H', nr, size) = 2<<30 | size<<16 | 'H'<<8 | nr
HID_IOC_TYPE = ord("H")


def device_description():
    return f"""P: {USB_DEV}
E: SUBSYSTEM=usb
E: DEVTYPE=usb_device
E: PRODUCT={VENDOR_ID:x}/{PRODUCT_ID:x}/100
A: idVendor={VENDOR_ID:04x}
A: idProduct={PRODUCT_ID:04x}
A: bcdDevice=0100
A: manufacturer={MANUFACTURER}
A: product={PRODUCT}
A: serial={SERIAL}
A: busnum=1
A: devnum=2

P: {USB_IF}
E: SUBSYSTEM=usb
E: DEVTYPE=usb_interface
A: bInterfaceClass=03
A: bInterfaceSubClass=00
A: bInterfaceProtocol=00
A: bInterfaceNumber=00

P: {HID_DEV}
E: SUBSYSTEM=hid
E: HID_ID=0003:{VENDOR_ID:08X}:{PRODUCT_ID:08X}
E: HID_NAME={MANUFACTURER} {PRODUCT}
E: HID_PHYS=usb-0000:00:14.0-1/input0
E: HID_UNIQ={SERIAL}
H: report_descriptor={REPORT_DESCRIPTOR.hex().upper()}

P: {HIDRAW_DEV}
N: hidraw0
E: DEVNAME=/dev/hidraw0
E: SUBSYSTEM=hidraw
E: MAJOR=247
E: MINOR=0
A: dev=247:0
L: device=../../../{HID_NAME}
"""


# ---------------------------------------------------------------- CTAPHID over the PTY

class HidTransport:
    """CTAPHID framing on the PTY master; one transaction at a time."""

    def __init__(self, master_fd, slave_fd, auth, verbose=False):
        self.master = master_fd
        self.slave = slave_fd
        self.auth = auth
        self.verbose = verbose
        self.inbuf = bytearray()
        self.pushed_back = []            # packets to handle before reading more
        self.channels = set()
        self.next_cid = 0x01000000 | (int.from_bytes(os.urandom(3), "big") & 0xFFFF00)
        self.assembly = None             # message being reassembled
        self.wake_r, self.wake_w = os.pipe()
        os.set_blocking(self.wake_r, False)
        os.set_blocking(self.master, False)
        os.set_blocking(self.slave, False)
        self.reset_lock = threading.Lock()
        self.reset_waiters = []          # Events set once a reset has been done
        self.reset_wanted = False
        self.stopping = False
        self.clients = 0
        self.dropped_writes = 0
        self.last_write = 0.0

    # -- called from umockdev's worker thread

    def request_reset(self, wait):
        done = threading.Event()
        with self.reset_lock:
            self.reset_wanted = True
            self.reset_waiters.append(done)
        os.write(self.wake_w, b"r")
        if wait and not done.wait(2.0):
            log("responder did not confirm the reset within 2 s")

    def stop(self):
        self.stopping = True
        os.write(self.wake_w, b"s")

    # -- the responder thread

    def service_reset(self):
        """Drop everything a previous client left: reports in both directions, a
        half-received message, a pending transaction. True if a reset happened."""
        with self.reset_lock:
            if not self.reset_wanted:
                return False
            self.reset_wanted = False
            waiters, self.reset_waiters = self.reset_waiters, []
        # A report written a moment ago may still sit in the kernel's flip buffer,
        # invisible to read(); let it land, then read and flush both queues.
        settle = self.last_write + 0.02 - time.monotonic()
        if settle > 0:
            time.sleep(settle)
        stale_in = len(self.inbuf) + self._drain(self.master)
        stale_out = self._drain(self.slave)
        for fd in (self.master, self.slave):
            try:
                termios.tcflush(fd, termios.TCIFLUSH)
            except termios.error as exc:
                log("tcflush: %s" % exc)
        self.inbuf.clear()
        self.pushed_back.clear()
        self.assembly = None
        self.auth.next_assertions = None
        if stale_in or stale_out:
            log("dropped stale reports: %d bytes from a client, %d bytes to a client"
                % (stale_in, stale_out))
        for done in waiters:
            done.set()
        return True

    @staticmethod
    def _drain(fd):
        total = 0
        while True:
            try:
                chunk = os.read(fd, 4096)
            except BlockingIOError:
                return total
            except OSError as exc:
                if exc.errno in (errno.EIO, errno.EAGAIN):
                    return total
                raise
            if not chunk:
                return total
            total += len(chunk)

    def serve(self):
        while not self.stopping:
            self.service_reset()
            packet = self.next_packet(self.assembly_timeout())
            if self.stopping:
                return
            if packet is None:
                if self.assembly and time.monotonic() > self.assembly["deadline"]:
                    cid = self.assembly["cid"]
                    self.assembly = None
                    self.send_error(cid, ERR_MSG_TIMEOUT)
                continue
            try:
                self.on_packet(packet)
            except Abandoned:
                log("transaction abandoned (client went away)")

    def assembly_timeout(self):
        if self.assembly:
            return max(0.0, self.assembly["deadline"] - time.monotonic())
        return None

    def next_packet(self, timeout):
        """One 64-byte report from a client, or None after `timeout` seconds (None:
        wait until something happens) or when a reset/stop is requested."""
        if self.pushed_back:
            return self.pushed_back.pop(0)
        deadline = None if timeout is None else time.monotonic() + timeout
        while True:
            if len(self.inbuf) >= REPORT + 1:
                raw = bytes(self.inbuf[:REPORT + 1])
                del self.inbuf[:REPORT + 1]
                if self.verbose:
                    log("<- %s" % raw[1:].hex())
                return raw[1:]     # byte 0 is the report ID (0)
            wait = None if deadline is None else max(0.0, deadline - time.monotonic())
            readable, _, _ = select.select([self.master, self.wake_r], [], [], wait)
            if self.wake_r in readable:
                try:
                    os.read(self.wake_r, 64)
                except BlockingIOError:
                    pass
                if self.reset_wanted or self.stopping:
                    return None
            if self.master in readable:
                try:
                    chunk = os.read(self.master, 65 * 64)
                except (BlockingIOError, InterruptedError):
                    chunk = b""
                except OSError as exc:
                    if exc.errno != errno.EIO:
                        raise
                    chunk = b""
                    time.sleep(0.01)
                self.inbuf += chunk
                continue
            if deadline is not None and time.monotonic() >= deadline:
                return None

    # -- writing reports

    def write_report(self, report, may_wait=True):
        assert len(report) == REPORT
        if self.verbose:
            log("-> %s" % report.hex())
        deadline = time.monotonic() + (2.0 if may_wait else 0.0)
        while True:
            try:
                os.write(self.master, report)
                self.last_write = time.monotonic()
                return
            except BlockingIOError:
                if time.monotonic() >= deadline:
                    self.dropped_writes += 1
                    if self.dropped_writes in (1, 10, 100) or self.dropped_writes % 1000 == 0:
                        log("no client reads the node: %d reports dropped"
                            % self.dropped_writes)
                    return
                select.select([], [self.master], [], 0.05)

    def send(self, cid, cmd, data, framing=None):
        """Send one CTAPHID message; `framing` ("seq", "cid", "reorder") corrupts its
        continuation packets (see README.md, switch bad_framing)."""
        cid_bytes = cid.to_bytes(4, "big")
        first = data[:INIT_DATA]
        report = cid_bytes + bytes([0x80 | cmd]) + len(data).to_bytes(2, "big") + first
        reports = [report]
        rest = data[INIT_DATA:]
        seq = 0
        while rest:
            chunk, rest = rest[:CONT_DATA], rest[CONT_DATA:]
            out_cid, out_seq = cid_bytes, seq
            if framing == "cid":
                out_cid = (cid ^ 0x00000001).to_bytes(4, "big")
            elif framing == "seq":
                out_seq = seq + 1 if seq == 0 else seq
            reports.append(out_cid + bytes([out_seq & 0x7F]) + chunk)
            seq += 1
        if framing == "reorder" and len(reports) >= 3:
            reports[1], reports[2] = reports[2], reports[1]
        for report in reports:
            self.write_report(report.ljust(REPORT, b"\x00"))

    def send_error(self, cid, code):
        log("CTAPHID_ERROR 0x%02x to channel %08x" % (code, cid))
        self.send(cid, CTAPHID_ERROR, bytes([code]))

    # -- packets

    def on_packet(self, packet):
        cid = int.from_bytes(packet[:4], "big")
        if packet[4] & 0x80:
            cmd = packet[4] & 0x7F
            bcnt = int.from_bytes(packet[5:7], "big")
            if cmd == CTAPHID_INIT:
                self.assembly = None if (self.assembly and self.assembly["cid"] == cid) \
                    else self.assembly
                self.on_init(cid, packet[7:7 + min(bcnt, INIT_DATA)], bcnt)
                return
            if cid == BROADCAST or cid == 0 or cid not in self.channels:
                self.send_error(cid, ERR_INVALID_CHANNEL)
                return
            if self.assembly:
                if self.assembly["cid"] == cid:
                    self.assembly = None
                    self.send_error(cid, ERR_INVALID_SEQ)
                else:
                    self.send_error(cid, ERR_CHANNEL_BUSY)
                return
            if bcnt > MAX_MESSAGE:
                self.send_error(cid, ERR_INVALID_LEN)
                return
            self.assembly = {"cid": cid, "cmd": cmd, "bcnt": bcnt,
                             "data": bytearray(packet[7:7 + min(bcnt, INIT_DATA)]),
                             "seq": 0, "deadline": time.monotonic() + TRANSACTION_TIMEOUT}
        else:
            if not self.assembly or self.assembly["cid"] != cid:
                return  # spurious continuation: ignored, as the spec says
            seq = packet[4]
            if seq != self.assembly["seq"]:
                self.assembly = None
                self.send_error(cid, ERR_INVALID_SEQ)
                return
            need = self.assembly["bcnt"] - len(self.assembly["data"])
            self.assembly["data"] += packet[5:5 + min(need, CONT_DATA)]
            self.assembly["seq"] += 1
            self.assembly["deadline"] = time.monotonic() + TRANSACTION_TIMEOUT
        if len(self.assembly["data"]) >= self.assembly["bcnt"]:
            message, self.assembly = self.assembly, None
            self.on_message(message["cid"], message["cmd"], bytes(message["data"]))

    def on_init(self, cid, nonce, bcnt):
        behaviour = self.auth.load_behaviour()
        if behaviour.get("silent") is True:
            log("INIT ignored (silent)")
            return
        if bcnt != 8:
            self.send_error(cid, ERR_INVALID_LEN)
            return
        if cid == BROADCAST:
            new_cid = self.next_cid
            self.next_cid = (self.next_cid + 1) & 0xFFFFFFFF
            if self.next_cid in (0, BROADCAST):
                self.next_cid = 1
            self.channels.add(new_cid)
        elif cid in self.channels:
            new_cid = cid   # resynchronise an existing channel
        else:
            self.send_error(cid, ERR_INVALID_CHANNEL)
            return
        # nonce, CID, protocol version 2, device version 1.0.0, capabilities
        body = nonce + new_cid.to_bytes(4, "big") + bytes([2, 1, 0, 0,
                                                           CAP_WINK | CAP_CBOR | CAP_NMSG])
        self.send(cid, CTAPHID_INIT, body)

    def on_message(self, cid, cmd, data):
        behaviour = self.auth.load_behaviour()
        if behaviour.get("silent") is True:
            log("CTAPHID command 0x%02x ignored (silent)" % cmd)
            return
        if cmd == CTAPHID_PING:
            self.send(cid, CTAPHID_PING, data)
        elif cmd == CTAPHID_WINK:
            self.send(cid, CTAPHID_WINK, b"")
        elif cmd == CTAPHID_CANCEL:
            pass  # nothing pending: a CANCEL has no response
        elif cmd == CTAPHID_CBOR:
            name = authenticator.COMMAND_NAMES.get(data[0] if data else -1, "?")
            if scope_applies(behaviour.get("silent"), name, ()):
                log("%s ignored (silent)" % name)
                return
            response = self.auth.handle(data, UserPresence(self, cid))
            framing = bad_framing_kind(behaviour.get("bad_framing"), name)
            if framing:
                log("%s answered with bad framing (%s)" % (name, framing))
            self.send(cid, CTAPHID_CBOR, response, framing)
        else:
            # MSG (U2F) is not offered (capability NMSG); LOCK and others unknown.
            self.send_error(cid, ERR_INVALID_CMD)


def bad_framing_kind(value, command_name):
    """None, "seq" or "cid" for the answer to `command_name` (see README.md)."""
    if value is None or value is False:
        return None
    if value is True or value in ("seq", "cid", "reorder"):
        kind, scope = ("seq" if value is True else value), True
    elif isinstance(value, dict):
        kind, scope = value.get("kind", "seq"), value.get("commands", True)
    else:
        return None
    if kind not in ("seq", "cid", "reorder"):
        return None
    return kind if scope_applies(scope, command_name) else None


class UserPresence:
    """What the authenticator calls while it 'waits for a touch'."""

    def __init__(self, transport, cid):
        self.t = transport
        self.cid = cid

    def wait(self, ms):
        t = self.t
        start = time.monotonic()
        deadline = None if ms is None else start + ms / 1000.0
        next_keepalive = start
        while True:
            now = time.monotonic()
            if deadline is not None and now >= deadline:
                return
            if t.stopping:
                raise Abandoned()
            if now >= next_keepalive:
                t.write_report((self.cid.to_bytes(4, "big") + bytes([0x80 | CTAPHID_KEEPALIVE])
                                + b"\x00\x01" + bytes([KEEPALIVE_UPNEEDED])).ljust(REPORT, b"\x00"),
                               may_wait=False)
                next_keepalive += 0.1
            until = next_keepalive if deadline is None else min(next_keepalive, deadline)
            packet = t.next_packet(max(0.0, until - time.monotonic()))
            if t.reset_wanted:
                raise Abandoned()
            if packet is None:
                continue
            cid = int.from_bytes(packet[:4], "big")
            if not packet[4] & 0x80:
                continue
            cmd = packet[4] & 0x7F
            if cmd == CTAPHID_CANCEL and cid == self.cid:
                log("CANCEL received while waiting for touch")
                raise Cancelled()
            if cmd == CTAPHID_INIT:
                if cid == self.cid:
                    t.pushed_back.append(packet)   # resync aborts this transaction
                    raise Abandoned()
                bcnt = int.from_bytes(packet[5:7], "big")
                t.on_init(cid, packet[7:7 + min(bcnt, INIT_DATA)], bcnt)
                continue
            if cid != self.cid:
                t.send_error(cid, ERR_CHANNEL_BUSY)


# ---------------------------------------------------------------- umockdev glue

def make_ioctl_handler(UMockdev, transport):
    class HidrawIoctls(UMockdev.IoctlBase):
        """HIDIOCGRDESCSIZE/HIDIOCGRDESC/HIDIOCGRAWINFO/-NAME/-PHYS/-UNIQ; every
        other ioctl fails with ENOTTY like on a real hidraw node. A client opening
        the node first makes the responder drop stale reports."""

        def do_client_connected(self, client):
            transport.clients += 1
            client.connect("notify::connected", self.on_connected_changed)
            transport.request_reset(wait=True)

        def on_connected_changed(self, client, _pspec):
            if not client.get_connected():
                transport.clients -= 1
                if transport.clients <= 0:
                    transport.clients = 0
                    transport.request_reset(wait=False)

        def do_handle_ioctl(self, client):
            try:
                return self.answer(client)
            except Exception:   # never let a Python error hang the client
                traceback.print_exc()
                client.complete(-1, errno.EIO)
                return True

        def answer(self, client):
            request = client.get_request()
            size = (request >> 16) & 0x3FFF
            kind = (request >> 8) & 0xFF
            nr = request & 0xFF
            direction = request >> 30
            if kind != HID_IOC_TYPE or direction != 2:
                client.complete(-1, errno.ENOTTY)
                return True
            arg = client.get_arg()
            if nr == 0x01 and size == 4:            # HIDIOCGRDESCSIZE
                data = arg.resolve(0, 4)
                data.update(0, list(len(REPORT_DESCRIPTOR).to_bytes(4, "little")))
                client.complete(0, 0)
            elif nr == 0x02 and size == 4 + 4096:   # HIDIOCGRDESC
                data = arg.resolve(0, size)
                data.update(4, list(REPORT_DESCRIPTOR))
                client.complete(0, 0)
            elif nr == 0x03 and size == 8:          # HIDIOCGRAWINFO
                data = arg.resolve(0, 8)
                info = (3).to_bytes(4, "little") + VENDOR_ID.to_bytes(2, "little") + \
                    PRODUCT_ID.to_bytes(2, "little")
                data.update(0, list(info))
                client.complete(0, 0)
            elif nr in (0x04, 0x05, 0x08) and size > 0:  # RAWNAME, RAWPHYS, RAWUNIQ
                text = {0x04: MANUFACTURER + " " + PRODUCT,
                        0x05: "usb-0000:00:14.0-1/input0",
                        0x08: SERIAL}[nr].encode() + b"\x00"
                text = text[:size]
                data = arg.resolve(0, len(text))
                data.update(0, list(text))
                client.complete(len(text), 0)
            else:
                client.complete(-1, errno.EINVAL)
            return True

    return HidrawIoctls()


class VirtualKey:
    def __init__(self, directory, verbose, private=False):
        self.directory = directory
        self.verbose = verbose
        self.private = private
        self.testbed = None
        self.root = None
        self.thread = None
        self.transport = None
        self.slave = None
        self.helper = None
        self.life_w = None

    def start(self):
        from gi.repository import UMockdev  # imported after TMPDIR is set
        self.testbed = UMockdev.Testbed.new()
        self.root = self.testbed.get_root_dir()
        if not self.testbed.add_from_string(device_description()):
            raise RuntimeError("umockdev rejected the device description")
        master = self.testbed.get_dev_fd("/dev/hidraw0")
        if master < 0:
            raise RuntimeError("no PTY behind /dev/hidraw0")
        # The responder keeps its own handle of the slave: without it a client's
        # close hangs the PTY up and the next client gets EIO.
        self.slave = fcntl.ioctl(master, TIOCGPTPEER, os.O_RDWR | os.O_NOCTTY)
        tty.setraw(self.slave, termios.TCSANOW)
        self.hold_controlling_terminal()
        self.fix_device_numbers()

        auth = Authenticator(self.directory)
        self.transport = HidTransport(master, self.slave, auth, self.verbose)
        handler = make_ioctl_handler(UMockdev, self.transport)
        self.handler = handler
        if not self.testbed.attach_ioctl("/dev/hidraw0", handler):
            raise RuntimeError("attach_ioctl failed")
        if not self.private:
            self.open_to_all_users()

        self.thread = threading.Thread(target=self.run_responder, name="responder",
                                       daemon=True)
        self.thread.start()

        write_file(os.path.join(self.directory, "umockdev_dir"), self.root + "\n")
        write_file(os.path.join(self.directory, "ready"), "%d\n" % os.getpid())
        log("serving /dev/hidraw0; UMOCKDEV_DIR=%s" % self.root)

    def hold_controlling_terminal(self):
        """Make the PTY the controlling terminal of a helper's own session.

        A client that is a session leader without a terminal (anything started with
        setsid, daemons) opens /dev/hidraw0 without O_NOCTTY, and the kernel would make
        the PTY its controlling terminal: its /dev/tty is then the key, so a PIN
        prompt is written to the key and the PIN read from it. A PTY that already
        controls another session is never acquired, so a helper takes it first. The
        helper exits when this process does (its pipe reaches EOF)."""
        life_r, self.life_w = os.pipe()
        helper = ("import fcntl, os\n"
                  "fcntl.ioctl(%d, %d, 0)\n"        # TIOCSCTTY
                  "os.write(1, b'ok')\n"
                  "while os.read(%d, 1): pass\n" % (self.slave, termios.TIOCSCTTY, life_r))
        self.helper = subprocess.Popen(
            ["/usr/bin/python3", "-c", helper], pass_fds=(self.slave, life_r),
            start_new_session=True, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE)
        os.close(life_r)
        if self.helper.stdout.read(2) != b"ok":
            raise RuntimeError("helper could not take the PTY as its controlling terminal")

    def open_to_all_users(self):
        """Let clients of any uid use the key (a PAM module under test may run as the
        user): the testbed root is made 0700 by umockdev, the PTY 0620, the ioctl
        socket 0755. state.json stays private to the key."""
        os.chmod(self.root, 0o755)
        os.fchmod(self.slave, 0o666)
        socket_path = os.path.join(self.root, "ioctl", "dev", "hidraw0")
        if os.path.exists(socket_path):
            os.chmod(socket_path, 0o777)
        else:
            log("ioctl socket not found at %s; non-root clients will fail" % socket_path)

    def fix_device_numbers(self):
        """umockdev does not wrap fstat(): a client sees the PTY's numbers. Give the
        hidraw node those numbers too, so hidapi's hid_get_device_info() finds the
        device through /sys/dev/char/MAJ:MIN."""
        pts = os.path.join(self.root, "dev", "hidraw0")
        st = os.stat(pts)
        major, minor = os.major(st.st_rdev), os.minor(st.st_rdev)
        sys_dev = "/sys" + HIDRAW_DEV
        self.testbed.set_property(sys_dev, "MAJOR", str(major))
        self.testbed.set_property(sys_dev, "MINOR", str(minor))
        self.testbed.set_attribute(sys_dev, "dev", "%d:%d" % (major, minor))
        link_dir = os.path.join(self.root, "sys", "dev", "char")
        os.makedirs(link_dir, exist_ok=True)
        link = os.path.join(link_dir, "%d:%d" % (major, minor))
        if not os.path.lexists(link):
            os.symlink("../../devices" + HIDRAW_DEV[len("/devices"):], link)

    def run_responder(self):
        try:
            self.transport.serve()
        except Exception:
            traceback.print_exc()
            log("responder crashed; stopping")
            os.kill(os.getpid(), signal.SIGTERM)

    def stop(self):
        for name in ("ready", "umockdev_dir"):
            try:
                os.unlink(os.path.join(self.directory, name))
            except FileNotFoundError:
                pass
        if self.transport:
            self.transport.stop()
        if self.thread:
            self.thread.join(2.0)
        if self.helper is not None:
            os.close(self.life_w)
            try:
                self.helper.wait(2.0)
            except subprocess.TimeoutExpired:
                self.helper.kill()
        if self.testbed is not None:
            try:
                self.testbed.detach_ioctl("/dev/hidraw0")
            except Exception:
                pass
            # The testbed's finalizer removes its directory (and aborts the process
            # if the directory is already gone), so let it run now, once.
            self.testbed = None
            gc.collect()
        if self.root and os.path.isdir(self.root):
            log("testbed finalizer left %s; removing it" % self.root)
            shutil.rmtree(self.root, ignore_errors=True)
        log("stopped; testbed removed")


def write_file(path, text):
    tmp = path + ".tmp"
    with open(tmp, "w") as handle:
        handle.write(text)
    os.replace(tmp, path)


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--dir", required=True, help="directory for testbed and state")
    parser.add_argument("--verbose", action="store_true", help="log every report")
    parser.add_argument("--private", action="store_true",
                        help="leave the testbed root-only (default: clients of any uid)")
    args = parser.parse_args()

    directory = os.path.abspath(args.dir)
    os.makedirs(directory, exist_ok=True)
    tmp = os.path.join(directory, "tmp")
    # A responder killed with SIGKILL leaves its testbed behind: clear it.
    shutil.rmtree(tmp, ignore_errors=True)
    os.makedirs(tmp)
    os.environ["TMPDIR"] = tmp     # umockdev makes its testbed under TMPDIR
    for name in ("ready", "umockdev_dir"):
        try:
            os.unlink(os.path.join(directory, name))
        except FileNotFoundError:
            pass

    import gi
    gi.require_version("UMockdev", "1.0")

    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    signal.signal(signal.SIGINT, lambda *_: stop.set())
    signal.signal(signal.SIGHUP, lambda *_: stop.set())

    key = VirtualKey(directory, args.verbose, args.private)
    try:
        key.start()
        while not stop.wait(1.0):
            if not key.thread.is_alive():
                break
    finally:
        key.stop()
        shutil.rmtree(tmp, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
