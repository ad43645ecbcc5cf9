#!/usr/bin/python3
"""Checks the virtual key through hidapi's hidraw backend (Debian libhidapi-hidraw0,
loaded with ctypes): the path the project's Rust code takes via the hidapi crate.

Proves: hid_enumerate finds the key with usage page 0xF1D0 / usage 1 (taken from the
sysfs report_descriptor), vendor/product/manufacturer/product/serial strings and bus
USB; hid_open_path opens it; hid_get_device_info works on the open handle; a
CTAPHID_INIT written with hid_write is answered to hid_read_timeout with the nonce.

Usage: /usr/bin/python3 tests/fido/check_with_hidapi.py
Starts its own key in a fresh /var/tmp directory and removes it afterwards.
"""

import ctypes
import os
import shutil
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))


class DeviceInfo(ctypes.Structure):
    pass


DeviceInfo._fields_ = [
    ("path", ctypes.c_char_p),
    ("vendor_id", ctypes.c_ushort),
    ("product_id", ctypes.c_ushort),
    ("serial_number", ctypes.c_wchar_p),
    ("release_number", ctypes.c_ushort),
    ("manufacturer_string", ctypes.c_wchar_p),
    ("product_string", ctypes.c_wchar_p),
    ("usage_page", ctypes.c_ushort),
    ("usage", ctypes.c_ushort),
    ("interface_number", ctypes.c_int),
    ("next", ctypes.POINTER(DeviceInfo)),
    ("bus_type", ctypes.c_int),          # hidapi >= 0.13
]


def inner():
    passed = failed = 0

    def check(what, condition, detail=""):
        nonlocal passed, failed
        if condition:
            passed += 1
            print("ok   - %s" % what)
        else:
            failed += 1
            print("FAIL - %s %s" % (what, detail))

    lib = ctypes.CDLL("libhidapi-hidraw.so.0")
    lib.hid_enumerate.restype = ctypes.POINTER(DeviceInfo)
    lib.hid_open_path.restype = ctypes.c_void_p
    lib.hid_open_path.argtypes = [ctypes.c_char_p]
    lib.hid_get_device_info.restype = ctypes.POINTER(DeviceInfo)
    lib.hid_get_device_info.argtypes = [ctypes.c_void_p]
    lib.hid_write.argtypes = [ctypes.c_void_p, ctypes.c_char_p, ctypes.c_size_t]
    lib.hid_read_timeout.argtypes = [ctypes.c_void_p, ctypes.c_char_p, ctypes.c_size_t,
                                     ctypes.c_int]
    lib.hid_close.argtypes = [ctypes.c_void_p]
    lib.hid_error.restype = ctypes.c_wchar_p
    lib.hid_error.argtypes = [ctypes.c_void_p]
    lib.hid_version_str.restype = ctypes.c_char_p
    lib.hid_init()
    print("# hidapi %s" % lib.hid_version_str().decode())

    head = lib.hid_enumerate(0, 0)
    found = []
    node = head
    while node:
        info = node.contents
        found.append((info.path, info.vendor_id, info.product_id, info.usage_page, info.usage,
                      info.manufacturer_string, info.product_string, info.serial_number,
                      info.bus_type, info.interface_number))
        node = info.next
    lib.hid_free_enumeration(head)
    check("hid_enumerate lists exactly one device", len(found) == 1, repr(found))
    if not found:
        return 1
    path, vid, pid, page, usage, manufacturer, product, serial, bus, iface = found[0]
    check("path /dev/hidraw0", path == b"/dev/hidraw0", repr(path))
    check("vendor 0x1209 product 0x000a", (vid, pid) == (0x1209, 0x000A), "%x:%x" % (vid, pid))
    check("usage page 0xF1D0, usage 1 (FIDO CTAPHID)", (page, usage) == (0xF1D0, 1),
          "%x/%x" % (page, usage))
    check("manufacturer/product/serial strings",
          (manufacturer, product, serial) == ("pam_mfa tests", "pam_mfa virtual FIDO2 key",
                                              "VK0001"),
          repr((manufacturer, product, serial)))
    check("bus type USB (1), interface 0", (bus, iface) == (1, 0), repr((bus, iface)))

    dev = lib.hid_open_path(path)
    check("hid_open_path", bool(dev))
    if not dev:
        return 1
    info = lib.hid_get_device_info(dev)
    check("hid_get_device_info on the open handle", bool(info),
          lib.hid_error(dev) if not info else "")
    if info:
        check("hid_get_device_info: usage page 0xF1D0",
              info.contents.usage_page == 0xF1D0, hex(info.contents.usage_page))

    nonce = os.urandom(8)
    report = b"\x00" + b"\xff\xff\xff\xff\x86\x00\x08" + nonce
    report = report.ljust(65, b"\x00")
    written = lib.hid_write(dev, report, 65)
    check("hid_write of a 65-byte CTAPHID_INIT report", written == 65, str(written))
    buf = ctypes.create_string_buffer(64)
    n = lib.hid_read_timeout(dev, buf, 64, 2000)
    raw = buf.raw[:max(n, 0)]
    check("hid_read_timeout returns one 64-byte report", n == 64, str(n))
    check("INIT answer echoes the nonce on the broadcast channel",
          raw[:7] == b"\xff\xff\xff\xff\x86\x00\x11" and raw[7:15] == nonce, raw.hex())
    cid = raw[15:19]
    ping = b"\x00" + cid + b"\x81\x00\x04ping"
    lib.hid_write(dev, ping.ljust(65, b"\x00"), 65)
    n = lib.hid_read_timeout(dev, buf, 64, 2000)
    check("PING on the allocated channel echoes", buf.raw[:11] == cid + b"\x81\x00\x04ping",
          buf.raw[:11].hex())
    lib.hid_close(dev)
    lib.hid_exit()
    print("%d passed, %d failed" % (passed, failed))
    return 0 if failed == 0 else 1


def outer():
    directory = tempfile.mkdtemp(prefix="vkey-hidapi.", dir="/var/tmp")
    env = {k: v for k, v in os.environ.items() if k not in ("LD_PRELOAD", "UMOCKDEV_DIR")}
    with open(os.path.join(directory, "key.log"), "w") as log:
        key = subprocess.Popen(["/usr/bin/python3", os.path.join(HERE, "virtual_key.py"),
                                "--dir", directory], env=env, stderr=log)
    try:
        for _ in range(100):
            if os.path.exists(os.path.join(directory, "ready")) or key.poll() is not None:
                break
            time.sleep(0.1)
        if not os.path.exists(os.path.join(directory, "ready")):
            print(open(os.path.join(directory, "key.log")).read())
            print("0 passed, 1 failed")
            return 1
        with open(os.path.join(directory, "umockdev_dir")) as handle:
            env.update(LD_PRELOAD="libumockdev-preload.so.0",
                       UMOCKDEV_DIR=handle.read().strip(), VKEY_DIR=directory)
        return subprocess.run(["/usr/bin/python3", os.path.abspath(__file__)], env=env,
                              timeout=60).returncode
    finally:
        key.terminate()
        try:
            key.wait(5)
        except subprocess.TimeoutExpired:
            key.kill()
        shutil.rmtree(directory, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(inner() if "VKEY_DIR" in os.environ else outer())
