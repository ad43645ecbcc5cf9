#!/usr/bin/python3
"""Benchmarks pam_mfa against pam_google_authenticator and pam_oath (Debian's
packages) through the same libpam harness (tests/src/bin/pam_driver.rs) under
pam_wrapper, side by side in one run, and prints a markdown table.

Run through tests/bench/run.sh, which builds the binaries and installs the peers.
Every module gets the same secret (160 bits, SHA1, 6 digits, 30 s) and the same
users; a code works once per user in every module, so success paths log in a
different user each time.
"""

import base64
import json
import os
import re
import shutil
import statistics
import subprocess
import sys
import time

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
# Cargo's target directory: ./target unless CARGO_TARGET_DIR or a cargo config moves it.
TARGET = json.loads(subprocess.run(
    ["cargo", "metadata", "--format-version", "1", "--no-deps"],
    cwd=ROOT, check=True, capture_output=True, text=True).stdout)["target_directory"]
DRIVER = os.path.join(TARGET, "release/pam_driver")
MODULE = os.path.join(TARGET, "release/libpam_mfa.so")
DAEMON = os.path.join(TARGET, "release/pam_mfad")
SECDIR = "/lib/x86_64-linux-gnu/security"
SECRET = "JBSWY3DPEHPK3PXPJBSWY3DPEHPK3PXP"
HEX = base64.b32decode(SECRET).hex()
WORK = "/var/tmp/pam_mfa-bench"
# pam_mfa is the module (a thin client) with pam_mfad deciding, started by the
# benchmark for each user set and config.
MODULES = ["pam_mfa", "pam_google_authenticator", "pam_oath"]
PEERS = ["pam_google_authenticator", "pam_oath"]
USER_COUNTS = [1, 10_000, 100_000]
LOGINS = int(os.environ.get("BENCH_LOGINS", "1000"))
REPEATS = int(os.environ.get("BENCH_REPEATS", "3"))
REFUSALS = int(os.environ.get("BENCH_REFUSALS", "150"))
NSS = os.path.join(WORK, "nss")


def write(path, text, mode=0o600):
    with open(path, "w") as f:
        f.write(text)
    os.chmod(path, mode)


def setup(n):
    """A store, secret files and a users file for n users bench0..bench{n-1}."""
    base = os.path.join(WORK, f"users-{n}")
    if os.path.exists(os.path.join(base, "done")):
        services(base)
        return base
    shutil.rmtree(base, ignore_errors=True)
    os.makedirs(base)
    os.chmod(base, 0o755)
    store, ga = os.path.join(base, "store"), os.path.join(base, "ga")
    os.mkdir(store, 0o700)
    os.mkdir(ga, 0o700)
    users = [f"bench{i}" for i in range(n)]
    write(os.path.join(base, "users"), "\n".join(users) + "\n", 0o644)
    record = (
        f'version = 1\n\n[totp]\nsecret = "{SECRET}"\nalgorithm = "SHA1"\n'
        "digits = 6\nperiod = 30\ncreated = 1700000000\n"
    )
    ga_file = f'{SECRET}\n" WINDOW_SIZE 3\n" DISALLOW_REUSE\n" TOTP_AUTH\n'
    for u in users:
        write(os.path.join(store, f"{u}.toml"), record)
        write(os.path.join(ga, u), ga_file)
    write(os.path.join(base, "oath"), "".join(f"HOTP/T30 {u} - {HEX}\n" for u in users))
    services(base)
    write(os.path.join(base, "done"), "")
    return base


def services(base):
    """The PAM service files of `base`, written every run (an earlier run may have
    made the users with other modules)."""
    ga = os.path.join(base, "ga")
    svc = os.path.join(base, "pam.d")
    os.makedirs(svc, exist_ok=True)
    lines = {
        "pam_mfa": f"auth required {MODULE} socket={base}/socket",
        "pam_google_authenticator": f"auth required {SECDIR}/pam_google_authenticator.so secret={ga}/${{USER}} user=root",
        # The fixed cost of a user without a secret, who passes through.
        "pam_google_authenticator_nullok": f"auth required {SECDIR}/pam_google_authenticator.so secret={ga}/${{USER}} user=root nullok",
        "pam_oath": f"auth required {SECDIR}/pam_oath.so usersfile={base}/oath window=1 digits=6",
        "permit": f"auth required {SECDIR}/pam_permit.so",
        "other": f"auth required {SECDIR}/pam_deny.so",
    }
    for name, line in lines.items():
        write(os.path.join(svc, name), line + "\n", 0o644)


def configure(base, refusal_ms=0, unenrolled="deny"):
    """pam_mfa's config for `base`: no lockout, no fail delay and, unless asked
    for, no refusal padding (the latency rows measure the work, not the wait).
    The daemon of `base`, if running, is stopped: the next login starts one that
    reads this config."""
    stop_daemon(base)
    write(
        os.path.join(base, "config.toml"),
        f'[store]\ndir = "{os.path.join(base, "store")}"\n[lockout]\nmax_failures = 0\n'
        f'[policy]\nfail_delay_ms = 0\nrefusal_ms = {refusal_ms}\nunenrolled = "{unenrolled}"\n',
        0o644,
    )


def build_nss():
    """pam_mfa knows users through getpwnam: the bench users come from a small NSS
    module that answers in constant time, as an indexed database (sssd, nss_db)
    does. The peers do not look users up (secret=/usersfile=)."""
    os.makedirs(NSS, exist_ok=True)
    subprocess.run(
        ["gcc", "-O2", "-shared", "-fPIC", "-Wall", "-Werror", "-o",
         os.path.join(NSS, "libnss_benchusers.so.2"),
         os.path.join(ROOT, "tests/bench/libnss_benchusers.c")],
        check=True,
    )
    write(os.path.join(NSS, "nsswitch.conf"), "passwd: files benchusers\ngroup: files\n", 0o644)


def env_for(base):
    env = dict(os.environ)
    env.update(
        PAM_WRAPPER="1",
        PAM_WRAPPER_SERVICE_DIR=os.path.join(base, "pam.d"),
        PAM_WRAPPER_DISABLE_DEEPBIND="1",
        LD_LIBRARY_PATH=NSS,
    )
    return env


def in_namespace(cmd):
    """`cmd` in a private mount namespace whose nsswitch.conf adds the bench users;
    pam_wrapper is preloaded into the program alone."""
    script = 'mount --bind "$0" /etc/nsswitch.conf && LD_PRELOAD=libpam_wrapper.so exec "$@"'
    conf = os.path.join(NSS, "nsswitch.conf")
    return ["unshare", "--mount", "--propagation", "private", "--", "sh", "-c", script, conf] + cmd


daemons = {}


def ensure_daemon(base):
    """pam_mfad for `base`'s config on `base`/socket, seeing the bench users."""
    if base in daemons:
        return
    sock = os.path.join(base, "socket")
    conf = os.path.join(NSS, "nsswitch.conf")
    script = 'mount --bind "$0" /etc/nsswitch.conf && exec "$@"'
    env = dict(os.environ, LD_LIBRARY_PATH=NSS)
    proc = subprocess.Popen(
        ["unshare", "--mount", "--propagation", "private", "--", "sh", "-c", script, conf,
         DAEMON, "--config", os.path.join(base, "config.toml"), "--socket", sock],
        env=env, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )
    daemons[base] = proc
    import socket as sk
    for _ in range(500):
        try:
            s = sk.socket(sk.AF_UNIX)
            s.connect(sock)
            s.close()
            return
        except OSError:
            time.sleep(0.02)
    raise RuntimeError("pam_mfad did not start")


def stop_daemon(base):
    proc = daemons.pop(base, None)
    if proc:
        proc.terminate()
        proc.wait()


def stop_daemons():
    for base in list(daemons):
        stop_daemon(base)


def driver(base, service, logins, threads, answer, users_file=None, valgrind=None):
    if service == "pam_mfa":
        ensure_daemon(base)
    users_file = users_file or os.path.join(base, "users")
    if answer == "right":
        how = ["--secret", SECRET]
    elif answer == "wrong":
        how = ["--answer", "00000x"]
    else:
        how = ["--answer", answer]
    cmd = [DRIVER, "bench", service, users_file, str(logins), str(threads)] + how
    if valgrind:
        cmd = ["valgrind", "--tool=callgrind", f"--callgrind-out-file={valgrind}"] + cmd
    out = subprocess.run(in_namespace(cmd), env=env_for(base), capture_output=True, text=True, check=True)
    line = [l for l in out.stdout.splitlines() if l.startswith("logins=")][-1]
    return {k: float(v) for k, v in (kv.split("=") for kv in line.split())}


def fresh_users(base, count, tag):
    """A users file of `count` users not logged in during the current 30 s step:
    success paths need unused codes."""
    global cursor
    users = open(os.path.join(base, "users")).read().split()
    start = cursor.get(base, 0)
    if start + count > len(users):
        # Wait for the next step: every code is fresh again.
        time.sleep(30 - time.time() % 30 + 1)
        start = 0
    cursor[base] = start + count
    path = os.path.join(base, f"users-{tag}")
    write(path, "\n".join(users[start : start + count]) + "\n", 0o644)
    return path


cursor = {}


def median_of_runs(fn):
    runs = [fn() for _ in range(REPEATS)]
    return statistics.median(r["median_us"] for r in runs), runs


def instructions(path):
    text = open(path).read()
    m = re.search(r"^summary:\s+(\d+)", text, re.M) or re.search(r"^totals:\s+(\d+)", text, re.M)
    return int(m.group(1))


def stripped_size(path):
    tmp = os.path.join(WORK, "stripped.so")
    subprocess.run(["strip", "-o", tmp, path], check=True)
    return os.path.getsize(tmp)


def refusal_timing(say):
    """Refusals of five kinds, one user each, with no fail delay: how long each
    takes, without and with pam_mfa's refusal padding, next to the peers."""
    base = setup(1)
    store = os.path.join(base, "store")
    step = int(time.time()) // 30
    record = lambda extra="", state="": (
        f'version = 1\n\n[totp]\nsecret = "{SECRET}"\nalgorithm = "SHA1"\n'
        f"digits = 6\nperiod = 30\ncreated = 1700000000\n{extra}{state}"
    )
    write(os.path.join(store, "bench1.toml"), record(state=f"\n[state]\nlocked_until = {int(time.time()) + 86400}\n"))
    write(os.path.join(store, "bench2.toml"), record(extra=f"last_step = {step + 100000}\n"))
    for u in ["bench1", "bench2"]:
        write(os.path.join(base, "ga", u), open(os.path.join(base, "ga", "bench0")).read())
    kinds = [
        ("unknown user", "nobody-here", "123456"),
        ("unenrolled user", "bench3", "123456"),
        ("locked-out user", "bench1", "right"),
        ("wrong code", "bench0", "123456"),
        ("replayed code", "bench2", "right"),
    ]
    say(f"### Refusal time by kind (µs, median of {REFUSALS}; no fail delay)")
    say()
    say("Unknown, unenrolled, locked-out and enrolled users must not be told apart by the time a refusal takes.")
    say()
    say("| refusal | pam_mfa, refusal_ms = 0 | pam_mfa, refusal_ms = 50 | pam_google_authenticator | pam_oath |")
    say("|---|---|---|---|---|")
    cols = {}
    for label, service, padding in [("mfa0", "pam_mfa", 0), ("mfa50", "pam_mfa", 50),
                                    ("ga", "pam_google_authenticator", 0), ("oath", "pam_oath", 0)]:
        configure(base, padding)
        for kind, user, answer in kinds:
            if label in ("ga", "oath") and kind in ("locked-out user", "replayed code"):
                cols[(label, kind)] = "—"
                continue
            users = os.path.join(base, f"users-refusal-{user}")
            write(users, user + "\n", 0o644)
            r = driver(base, service, REFUSALS, 1, answer, users)
            cell = f"{r['median_us']:.0f}"
            if r["ok"]:
                cell += f" ({int(r['ok'])} passed!)"
            cols[(label, kind)] = cell
    configure(base)
    for kind, _, _ in kinds:
        say(f"| {kind} | " + " | ".join(cols[(l, kind)] for l in ["mfa0", "mfa50", "ga", "oath"]) + " |")
    say()
    say("The peers' locked-out and replay cases need their own state and are left out; pam_mfa's default refusal_ms is 250.")
    say()


def main():
    os.makedirs(WORK, exist_ok=True)
    build_nss()
    out = []
    say = lambda s="": (out.append(s), print(s, flush=True))
    say(f"Benchmark of {time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())} on {os.cpu_count()} cores; "
        f"median of {REPEATS} runs of {LOGINS} logins each (pam_start → pam_authenticate → pam_end in one process, pam_wrapper).")
    say()

    # 1. Latency by user count, success and failure.
    say("### Per-login latency (µs, median) by enrolled users")
    say()
    say("| path | users | " + " | ".join(MODULES) + " | pam_mfa vs google-authenticator | pam_mfa vs fastest peer |")
    say("|---|---|" + "---|" * len(MODULES) + "---|---|")
    for n in USER_COUNTS:
        base = setup(n)
        configure(base)
        for path in ["failure (wrong code)", "success (right code)"]:
            if path.startswith("success") and n < LOGINS:
                continue
            row = {}
            for m in MODULES:
                if path.startswith("success"):
                    fn = lambda: driver(base, m, LOGINS, 1, "right", fresh_users(base, LOGINS, m))
                else:
                    one = os.path.join(base, "users-one")
                    write(one, "bench0\n", 0o644)
                    fn = lambda: driver(base, m, LOGINS, 1, "wrong", one)
                med, runs = median_of_runs(fn)
                want_ok = LOGINS if path.startswith("success") else 0
                bad = [r for r in runs if r["ok"] != want_ok]
                row[m] = f"{med:.0f}" + (f" ({int(bad[0]['ok'])}/{LOGINS} ok!)" if bad else "")
            peers = [float(row[m].split()[0]) for m in PEERS]
            mfa = float(row["pam_mfa"].split()[0])
            ga = float(row["pam_google_authenticator"].split()[0])
            say(f"| {path} | {n:,} | " + " | ".join(row[m] for m in MODULES)
                + f" | {mfa / ga:.2f}× | {mfa / min(peers):.2f}× |")
    say()

    # The fixed cost every login pays: a user with no second factor who passes
    # through (pam_mfa with unenrolled = "ignore", google-authenticator with nullok).
    base = setup(1)
    configure(base, unenrolled="ignore")
    unenrolled = os.path.join(base, "users-unenrolled")
    write(unenrolled, "bench3\n", 0o644)
    mfa, _ = median_of_runs(lambda: driver(base, "pam_mfa", LOGINS, 1, "wrong", unenrolled))
    ga, _ = median_of_runs(lambda: driver(base, "pam_google_authenticator_nullok", LOGINS, 1, "wrong", unenrolled))
    permit, _ = median_of_runs(lambda: driver(base, "permit", LOGINS, 1, "wrong", unenrolled))
    configure(base)
    say("### Fixed cost per login: a user without a second factor passes through (µs, median)")
    say()
    say("| pam_mfa (unenrolled = \"ignore\") | pam_google_authenticator (nullok) | pam_mfa vs google-authenticator | pam_permit (the harness alone) |")
    say("|---|---|---|---|")
    say(f"| {mfa:.0f} | {ga:.0f} | {mfa / ga:.2f}× | {permit:.0f} |")
    say()

    refusal_timing(say)

    # 2. Throughput with concurrent logins (success path, 10 000 users).
    base = setup(10_000)
    configure(base)
    per_thread = 150
    say(f"### Throughput, concurrent logins of different users (logins/s; success path, 10,000 users, {per_thread} logins per thread)")
    say()
    say("| threads | " + " | ".join(MODULES) + " |")
    say("|---|" + "---|" * len(MODULES))
    for threads in [1, 4, 16]:
        cells = []
        for m in MODULES:
            users = fresh_users(base, threads * per_thread, f"{m}-t{threads}")
            r = driver(base, m, per_thread, threads, "right", users)
            note = "" if r["ok"] == r["logins"] else f" ({int(r['logins'] - r['ok'])} of {int(r['logins'])} valid logins FAILED)"
            cells.append(f"{r['per_second']:.0f}{note}")
        say(f"| {threads} | " + " | ".join(cells) + " |")
    say()

    # 3. Instructions per login (callgrind), failure path, one user.
    say("### Cost per login, without noise")
    say()
    base = setup(1)
    configure(base)
    one = os.path.join(base, "users-one")
    write(one, "bench0\n", 0o644)
    n = 20
    cg = lambda name: os.path.join(WORK, f"callgrind.{name}")
    driver(base, "permit", n, 1, "wrong", one, valgrind=cg("permit"))
    baseline = instructions(cg("permit"))
    say("| | " + " | ".join(MODULES) + " |")
    say("|---|" + "---|" * len(MODULES))
    cells = []
    for m in MODULES:
        driver(base, m, n, 1, "wrong", one, valgrind=cg(m))
        cells.append(f"{(instructions(cg(m)) - baseline) / n:,.0f}")
    say("| instructions per failed login (callgrind, minus pam_permit) | " + " | ".join(cells) + " |")
    sizes = {
        "pam_mfa": stripped_size(MODULE),
        "pam_google_authenticator": stripped_size(f"{SECDIR}/pam_google_authenticator.so"),
        "pam_oath": stripped_size(f"{SECDIR}/pam_oath.so"),
    }
    say("| stripped module size (KiB) | " + " | ".join(f"{sizes[m] / 1024:.0f}" for m in MODULES) + " |")
    # What the logins leave in the process: its growth from before the first to
    # after the 50th, minus pam_permit's (the harness's own).
    grow = lambda r: r["rss_after_kib"] - r["rss_before_kib"]
    permit = grow(driver(base, "permit", 50, 1, "wrong", one))
    rss = []
    for m in MODULES:
        rss.append(f"{grow(driver(base, m, 50, 1, 'wrong', one)) - permit:+.0f}")
    say("| resident memory the logins add to the process (KiB, growth over 50 logins minus pam_permit's) | " + " | ".join(rss) + " |")
    say()
    say("pam_oath also needs liboath (linked); pam_mfa's failure path writes the failure count (fsync) for lockout, the peers write nothing on failure.")
    say("pam_mfa's work is done in pam_mfad: callgrind and resident memory count what runs in the application (the thin module and its socket round trips).")
    daemon = daemons.get(base)
    if daemon:
        with open(f"/proc/{daemon.pid}/status") as f:
            rss_daemon = next(l.split()[1] for l in f if l.startswith("VmRSS:"))
        say(f"pam_mfad itself, one per host: {rss_daemon} KiB resident after these logins.")
    stop_daemons()

    dest = os.path.join(TARGET, "bench")
    os.makedirs(dest, exist_ok=True)
    with open(os.path.join(dest, "results.md"), "w") as f:
        f.write("\n".join(out) + "\n")
    print(f"\nsaved to {os.path.join(dest, 'results.md')}")


if __name__ == "__main__":
    try:
        sys.exit(main())
    finally:
        stop_daemons()
