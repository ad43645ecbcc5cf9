#!/usr/bin/python3
"""Benchmarks pam_mfa against pam_google_authenticator and pam_oath (Debian's
packages) through the same libpam harness (tests/src/bin/pam_driver.rs) under
pam_wrapper, side by side in one run, and prints a markdown table. The fixed cost
per login is measured in a C host instead (tests/bench/pam_host.c), which loads
modules as sshd and sudo do; see fixed_cost().

Run through tests/bench/run.sh, which builds the binaries and installs the peers.
Every module gets the same secret (160 bits, SHA1, 6 digits, 30 s) and the same
users; a code works once per user in every module, so success paths log in a
different user each time.

pam_mfa runs twice: with the file store and with the fleet store, in a PostgreSQL
cluster the benchmark starts itself, durable as a fleet's
database would be (the Fleet class below). Throughput is also measured "through two daemons": two
pam_mfad on one store, each with its own socket and config copy, the driver's
threads split between them.
"""

import base64
import json
import os
import re
import resource
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
CLI = os.path.join(TARGET, "release/mfa-token")
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
HOST = os.path.join(WORK, "host", "pam_host")
# The fleet store's connections per daemon: 16 threads through two daemons keep at
# most 8 logins in flight on each.
POOL_SIZE = 8

# pam_mfad instances: a PAM service names the socket of one; each has its own
# config file. "b" is the second host of a two-daemon pair on the same store.
HOSTS = {
    "pam_mfa": ("config.toml", "socket"),
    "pam_mfa_b": ("config-b.toml", "socket-b"),
    "pam_mfa_pg": ("config-pg.toml", "socket-pg"),
    "pam_mfa_pg_b": ("config-pg-b.toml", "socket-pg-b"),
}


class Fleet:
    """The fleet store's database: a PostgreSQL 15 cluster (Debian's server
    binaries) under WORK/pg, run as the `postgres` account, listening only on a
    Unix socket in a directory of its own (0700, so `trust` on it reaches root and
    that account alone), with the durability a fleet's database has: fsync,
    full_page_writes and synchronous_commit on, so every login that changes a
    record waits for its WAL to reach the disk. Roles and databases as the fleet
    suite makes them (tests/src/postgres.rs `create_app`): an owner role for
    `mfa-token store init --grant`, an application role the daemons connect as.
    One database per user count (bench_N), loaded once with `mfa-token store copy`
    from that user count's file store; the cluster is kept between runs unless the
    code that writes rows changed (CACHE_SOURCES)."""

    BIN = "/usr/lib/postgresql/15/bin"
    DIR = os.path.join(WORK, "pg")
    OWNER, APP = "pam_mfa_owner", "pam_mfa"
    PORT = 5432
    # What a stored row depends on: the record format, its sealing, the schema. A
    # change to any of these files makes a fresh cluster (and a fresh load).
    CACHE_SOURCES = ["core/src/store/record.rs", "core/src/store/seal.rs", "core/src/store/postgres.rs"]
    SETTINGS = (
        "listen_addresses = ''\n"
        "unix_socket_permissions = 0700\n"
        "max_connections = 100\n"
        "fsync = on\n"
        "full_page_writes = on\n"
        "synchronous_commit = on\n"
        "log_line_prefix = '%m [%p] %q%u@%d '\n"
    )

    def __init__(self):
        self.data = os.path.join(self.DIR, "data")
        self.socket = os.path.join(self.DIR, "socket")
        self.log = os.path.join(self.DIR, "server.log")
        self.key = os.path.join(self.DIR, "store.key")
        self.started = False
        self.loads = {}

    def cache_key(self):
        import hashlib
        h = hashlib.sha256(self.SETTINGS.encode())
        for f in self.CACHE_SOURCES:
            h.update(open(os.path.join(ROOT, f), "rb").read())
        return h.hexdigest()

    def as_server(self, *cmd, **kw):
        return subprocess.run(
            ["setpriv", "--reuid=postgres", "--regid=postgres", "--clear-groups", "--", *cmd],
            env={"PATH": "/usr/bin:/bin", "LC_ALL": "C"}, cwd=self.DIR,
            stdin=subprocess.DEVNULL, capture_output=True, text=True, **kw)

    def pg_ctl(self, *args):
        out = self.as_server(os.path.join(self.BIN, "pg_ctl"), *args, "-D", self.data)
        return out.returncode == 0, out.stdout + out.stderr

    def running(self):
        return self.started

    def start(self):
        """Starts the cached cluster, or a fresh one when there is none or the
        code that writes rows changed."""
        key_file = os.path.join(self.DIR, "cache-key")
        key = self.cache_key()
        fresh = not (os.path.exists(key_file) and open(key_file).read() == key)
        if os.path.exists(os.path.join(self.data, "postmaster.pid")):
            # A run that was killed before its finally: stop what it left.
            self.pg_ctl("stop", "-w", "-s", "-m", "fast", "-t", "60")
        if fresh:
            shutil.rmtree(self.DIR, ignore_errors=True)
            os.makedirs(self.DIR)
            os.chmod(self.DIR, 0o755)
            for d in [self.data, self.socket]:
                os.mkdir(d, 0o700)
                shutil.chown(d, "postgres", "postgres")
            out = self.as_server(os.path.join(self.BIN, "initdb"), "-D", self.data, "-U", "postgres",
                                 "--auth=trust", "--encoding=UTF8", "--locale=C", "--no-instructions")
            if out.returncode:
                raise RuntimeError(f"initdb failed:\n{out.stdout}{out.stderr}")
            write(os.path.join(self.data, "pg_hba.conf"),
                  "# The benchmark's cluster: its socket directory is 0700, owned by postgres.\n"
                  "local all all trust\n")
            shutil.chown(os.path.join(self.data, "pg_hba.conf"), "postgres", "postgres")
            with open(os.path.join(self.data, "postgresql.conf"), "a") as f:
                f.write("\n# The benchmark's settings (tests/bench/bench.py).\ninclude 'bench.conf'\n")
            conf = os.path.join(self.data, "bench.conf")
            write(conf, f"port = {self.PORT}\nunix_socket_directories = '{self.socket}'\n" + self.SETTINGS)
            shutil.chown(conf, "postgres", "postgres")
            with open("/dev/urandom", "rb") as r:
                fd = os.open(self.key, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
                os.write(fd, r.read(32))
                os.close(fd)
        open(self.log, "a").close()
        shutil.chown(self.log, "postgres", "postgres")
        ok, msg = self.pg_ctl("start", "-w", "-s", "-t", "60", "-l", self.log)
        if not ok:
            raise RuntimeError(f"pg_ctl start failed: {msg}\n" + open(self.log).read()[-3000:])
        self.started = True
        if fresh:
            self.psql("postgres", f"CREATE ROLE {self.OWNER} LOGIN NOSUPERUSER NOCREATEDB NOCREATEROLE "
                                  f"NOREPLICATION NOBYPASSRLS;\n"
                                  f"CREATE ROLE {self.APP} LOGIN NOSUPERUSER NOCREATEDB NOCREATEROLE "
                                  f"NOREPLICATION NOBYPASSRLS;\n")
            write(key_file, key)
        return self

    def stop(self):
        if self.started:
            self.started = False
            ok, msg = self.pg_ctl("stop", "-w", "-s", "-m", "fast", "-t", "60")
            if not ok:
                print(f"pg_ctl stop failed: {msg}", file=sys.stderr)

    def psql(self, db, sql):
        out = subprocess.run(
            [os.path.join(self.BIN, "psql"), "-X", "-q", "-v", "ON_ERROR_STOP=1", "-At", "-f", "-",
             "-d", self.conninfo("postgres", db)],
            input=sql, capture_output=True, text=True,
            env={"PATH": "/usr/bin:/bin", "LC_ALL": "C", "PGPASSFILE": "/nonexistent"})
        if out.returncode:
            raise RuntimeError(f"psql in {db} failed: {out.stderr}\nSQL: {sql}")
        return out.stdout.strip()

    def conninfo(self, role, db):
        return f"host={self.socket} port={self.PORT} user={role} dbname={db}"

    def store_section(self, role, db, pool_size=4):
        return (f'[store]\nbackend = "postgres"\nurl = "{self.conninfo(role, db)}"\n'
                f'key_file = "{self.key}"\npool_size = {pool_size}\n')

    def server_pids(self):
        """The postmaster and every process it started (backends, WAL writer, ...)."""
        try:
            pm = int(open(os.path.join(self.data, "postmaster.pid")).readline())
        except (OSError, ValueError):
            return []
        pids = [pm]
        for d in os.listdir("/proc"):
            if d.isdigit():
                try:
                    if int(open(f"/proc/{d}/stat").read().rsplit(")", 1)[1].split()[1]) == pm:
                        pids.append(int(d))
                except (OSError, IndexError, ValueError):
                    pass
        return pids

    def load(self, base):
        """The database of `base`'s users, created and filled from its file store
        (`mfa-token store copy`) unless this cluster already has it. Returns how
        long the copy took and when it ran."""
        db = database(base)
        marker = os.path.join(self.DIR, f"loaded-{db}")
        if os.path.exists(marker):
            self.loads[db] = json.load(open(marker))
            return self.loads[db]
        self.psql("postgres", f"DROP DATABASE IF EXISTS {db} WITH (FORCE);\n")
        self.psql("postgres", f"CREATE DATABASE {db} OWNER {self.OWNER};\n"
                              f"REVOKE ALL ON DATABASE {db} FROM PUBLIC;\n"
                              f"GRANT CONNECT ON DATABASE {db} TO {self.APP};\n")
        admin = os.path.join(self.DIR, f"admin-{db}.toml")
        write(admin, self.store_section(self.OWNER, db), 0o644)
        cli([CLI, "--config", admin, "store", "init", "--grant", self.APP])
        # The copy goes through the application role, as on a host.
        target = os.path.join(self.DIR, f"app-{db}.toml")
        write(target, self.store_section(self.APP, db), 0o644)
        users = sum(1 for f in os.listdir(os.path.join(base, "store")) if f.endswith(".toml"))
        t0 = time.monotonic()
        out = cli([CLI, "--config", target, "store", "copy", "--from", os.path.join(base, "config.toml")])
        took = time.monotonic() - t0
        summary = out.strip().splitlines()[-1]
        count = int(self.psql(db, "SELECT count(*) FROM pam_mfa_records"))
        if count != users:
            raise RuntimeError(f"{db}: {count} rows after the copy of {users} records: {summary}")
        self.loads[db] = {"seconds": round(took, 1), "users": users, "when": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()),
                          "summary": summary}
        write(marker, json.dumps(self.loads[db]))
        return self.loads[db]


def cli(cmd):
    out = subprocess.run(cmd, capture_output=True, text=True, stdin=subprocess.DEVNULL)
    if out.returncode:
        raise RuntimeError(f"{' '.join(cmd)} failed ({out.returncode}):\n{out.stdout[-2000:]}{out.stderr[-2000:]}")
    return out.stdout


fleet = Fleet()


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
        **{svc: f"auth required {MODULE} socket={base}/{sock}" for svc, (_, sock) in HOSTS.items()},
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
    """pam_mfa's configs for `base`: no lockout, no fail delay and, unless asked
    for, no refusal padding (the latency rows measure the work, not the wait).
    Four of them, one per daemon (HOSTS): the file store, and the fleet store in
    the benchmark's PostgreSQL (fleet.py), each twice (two hosts). The daemons of
    `base`, if running, are stopped: the next login starts ones that read these."""
    stop_daemon(base)
    rest = (
        f'[lockout]\nmax_failures = 0\n'
        f'[policy]\nfail_delay_ms = 0\nrefusal_ms = {refusal_ms}\nunenrolled = "{unenrolled}"\n'
    )
    files = f'[store]\ndir = "{os.path.join(base, "store")}"\n' + rest
    pg = fleet.store_section(fleet.APP, database(base), POOL_SIZE) + rest
    for svc, (config, _) in HOSTS.items():
        write(os.path.join(base, config), pg if "_pg" in svc else files, 0o644)


def database(base):
    """The fleet store's database for the users of `base` (users-N → bench_N)."""
    return "bench_" + os.path.basename(base).split("-")[1]


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


def build_host():
    """The C login host (tests/bench/pam_host.c) of the fixed cost."""
    os.makedirs(os.path.dirname(HOST), exist_ok=True)
    subprocess.run(
        ["gcc", "-O2", "-Wall", "-Wextra", "-Werror", "-o", HOST,
         os.path.join(ROOT, "tests/bench/pam_host.c"), "-lpam"],
        check=True,
    )


def host(base, service, logins, answer, users_file):
    """pam_host's logins of `service`, as driver() runs pam_driver's."""
    if service in HOSTS:
        ensure_daemon(base, service)
    cmd = in_namespace([HOST, service, users_file, str(logins), answer])
    out = subprocess.run(cmd, env=env_for(base), capture_output=True, text=True, check=True)
    return parse(out.stdout)


def round_trip():
    out = subprocess.run([HOST, "round-trip", str(LOGINS)], capture_output=True, text=True, check=True)
    return parse(out.stdout)


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


def ensure_daemon(base, service):
    """The pam_mfad behind `service` (HOSTS) for `base`, seeing the bench users."""
    if (base, service) in daemons:
        return
    config, sock = HOSTS[service]
    sock = os.path.join(base, sock)
    conf = os.path.join(NSS, "nsswitch.conf")
    script = 'mount --bind "$0" /etc/nsswitch.conf && exec "$@"'
    env = dict(os.environ, LD_LIBRARY_PATH=NSS)
    log = open(os.path.join(base, f"{service}.log"), "a")
    proc = subprocess.Popen(
        ["unshare", "--mount", "--propagation", "private", "--", "sh", "-c", script, conf,
         DAEMON, "--config", os.path.join(base, config), "--socket", sock],
        env=env, stdin=subprocess.DEVNULL, stdout=log, stderr=log,
    )
    log.close()
    daemons[(base, service)] = proc
    import socket as sk
    for _ in range(500):
        if proc.poll() is not None:
            raise RuntimeError(f"pam_mfad for {service} exited; see {base}/{service}.log")
        try:
            s = sk.socket(sk.AF_UNIX)
            s.connect(sock)
            s.close()
            return
        except OSError:
            time.sleep(0.02)
    raise RuntimeError("pam_mfad did not start")


def stop_daemon(base):
    for key in [k for k in daemons if k[0] == base]:
        proc = daemons.pop(key)
        proc.terminate()
        proc.wait()


def stop_daemons():
    for base in {k[0] for k in daemons}:
        stop_daemon(base)


def driver_cmd(base, service, logins, threads, answer, users_file=None, valgrind=None):
    if service in HOSTS:
        ensure_daemon(base, service)
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
    return in_namespace(cmd)


def parse(stdout):
    line = [l for l in stdout.splitlines() if l.startswith("logins=")][-1]
    return {k: float(v) for k, v in (kv.split("=") for kv in line.split())}


def driver(base, service, *args, **kw):
    cmd = driver_cmd(base, service, *args, **kw)
    out = subprocess.run(cmd, env=env_for(base), capture_output=True, text=True, check=True)
    return parse(out.stdout)


def two_daemons(base, pair, per_thread, threads, users):
    """Successful logins per wall second of `threads` threads split over the two
    daemons of `pair` (two driver processes at once, each with half the threads
    and half the users); one thread drives the first daemon alone. The wall time
    is the parent's, from starting the first driver to the end of the last, so it
    includes the drivers' start (a few ms) and never flatters. Also the CPU time
    per login of the drivers, the daemons and the PostgreSQL server."""
    names = open(users).read().split()
    parts = [threads] if threads == 1 else [threads // 2, threads - threads // 2]
    cmds = []
    for i, t in enumerate(parts):
        part = os.path.join(base, f"users-pair-{i}")
        per = len(names) // len(parts)
        write(part, "\n".join(names[i * per:(i + 1) * per]) + "\n", 0o644)
        cmds.append(driver_cmd(base, pair[i], per_thread, t, "right", part))
    before = cpu_snapshot(base, pair)
    start = time.monotonic()
    procs = [subprocess.Popen(c, env=env_for(base), stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
             for c in cmds]
    outs = [p.communicate() for p in procs]
    wall = time.monotonic() - start
    after = cpu_snapshot(base, pair)
    for p, (o, e) in zip(procs, outs):
        if p.returncode:
            raise RuntimeError(f"pam_driver failed ({p.returncode}): {e}")
    runs = [parse(o) for o, _ in outs]
    logins = sum(r["logins"] for r in runs)
    ok = sum(r["ok"] for r in runs)
    cpu = {k: (after[k] - before[k]) * 1000 / logins for k in after}
    return {"logins": logins, "ok": ok, "per_second": ok / wall, "wall": wall, "cpu_ms": cpu}


def cpu_snapshot(base, pair):
    """CPU seconds so far of: the drivers (finished children of this process), the
    two daemons of `pair` and the PostgreSQL server (all its processes)."""
    tick = os.sysconf("SC_CLK_TCK")

    def proc_cpu(pid):
        try:
            f = open(f"/proc/{pid}/stat").read().rsplit(")", 1)[1].split()
        except OSError:
            return 0.0
        return (int(f[11]) + int(f[12])) / tick

    kids = resource.getrusage(resource.RUSAGE_CHILDREN)
    snap = {
        "driver": kids.ru_utime + kids.ru_stime,
        "pam_mfad": sum(proc_cpu(daemons[(base, s)].pid) for s in pair if (base, s) in daemons),
    }
    snap["postgres"] = sum(proc_cpu(p) for p in fleet.server_pids()) if fleet.running() else 0.0
    return snap


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


def fixed_cost(say):
    """The fixed cost every login pays: a user with no second factor who passes
    through (pam_mfa with unenrolled = "ignore", google-authenticator with
    nullok), in the C host (pam_host.c) that loads modules as sshd and sudo do.
    Next to it, the machine's floor for any module that asks a local service:
    one Unix socket round trip between two processes. On a virtual machine whose
    idle CPUs halt at once (cpuidle haltpoll with guest_halt_poll_ns = 0), every
    wake-up of the other side is an exit to the hypervisor; there the figures
    are measured a second time with the kernel's default halt polling, and the
    setting is put back."""
    base = setup(1)
    configure(base, unenrolled="ignore")
    unenrolled = os.path.join(base, "users-unenrolled")
    write(unenrolled, "bench3\n", 0o644)

    def measure():
        mfa, _ = median_of_runs(lambda: host(base, "pam_mfa", LOGINS, "00000x", unenrolled))
        ga, _ = median_of_runs(lambda: host(base, "pam_google_authenticator_nullok", LOGINS, "00000x", unenrolled))
        permit, _ = median_of_runs(lambda: host(base, "permit", LOGINS, "00000x", unenrolled))
        trip, _ = median_of_runs(round_trip)
        return f"| {mfa:.0f} | {ga:.0f} | {mfa / ga:.2f}× | {permit:.0f} | {trip:.0f} |"

    rows = [("this machine as it is", measure())]
    poll = halt_poll_ns()
    if poll == 0:
        try:
            set_halt_poll_ns(DEFAULT_HALT_POLL_NS)
            rows.append((f"with halt polling ({DEFAULT_HALT_POLL_NS:,} ns, the kernel's default)", measure()))
        except OSError as e:
            print(f"halt polling not measured: {e}", file=sys.stderr)
        finally:
            try:
                set_halt_poll_ns(0)
            except OSError:
                pass
    configure(base)
    say("### Fixed cost per login: a user without a second factor passes through (µs, median)")
    say()
    say("In a C login host that links libpam and libc only, as sshd, sudo, login and su do "
        "(tests/bench/pam_host.c): a module's other libraries are loaded and unloaded with it at every login. "
        "The socket round trip is the floor under any module that asks a local service: one connection "
        "between two processes, 320 bytes there and 64 back.")
    say()
    say("| machine | pam_mfa (unenrolled = \"ignore\") | pam_google_authenticator (nullok) "
        "| pam_mfa vs google-authenticator | pam_permit (the host alone) | Unix socket round trip |")
    say("|---|---|---|---|---|---|")
    for label, row in rows:
        say(f"| {label} | " + row[2:])
    say()
    if poll is not None:
        say(f"This machine idles its CPUs with cpuidle haltpoll, guest_halt_poll_ns = {poll}"
            + (": an idle CPU halts at once, so each wake-up of the other process exits to the hypervisor."
               if poll == 0 else "."))
        say()


DEFAULT_HALT_POLL_NS = 200_000
HALT_POLL = "/sys/module/haltpoll/parameters/guest_halt_poll_ns"


def halt_poll_ns():
    """cpuidle haltpoll's polling time, None where the driver is not in use."""
    try:
        with open("/sys/devices/system/cpu/cpuidle/current_driver") as f:
            if f.read().strip() != "haltpoll":
                return None
        with open(HALT_POLL) as f:
            return int(f.read())
    except (OSError, ValueError):
        return None


def set_halt_poll_ns(ns):
    with open(HALT_POLL, "w") as f:
        f.write(str(ns))


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


def fleet_note():
    loads = "; ".join(
        f"{v['users']:,} records in {v['seconds']:.0f} s ({v['users'] / max(v['seconds'], 0.1):.0f}/s, {v['when']})"
        for _, v in sorted(fleet.loads.items(), key=lambda kv: kv[1]["users"]))
    return ("PostgreSQL 15 on the same machine, over its Unix socket, durable: fsync, full_page_writes "
            "and synchronous_commit on (wal_sync_method fdatasync, the default), so a login that writes "
            "(a used code, a failure count) returns after its commit reached the disk. "
            f"Loaded with `mfa-token store copy` from the file store, one transaction per user: {loads}.")


def load_average():
    return " / ".join(f"{x:.2f}" for x in os.getloadavg())


def main():
    os.makedirs(WORK, exist_ok=True)
    build_nss()
    build_host()
    fleet.start()
    out = []
    say = lambda s="": (out.append(s), print(s, flush=True))
    say(f"Benchmark of {time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())} on {os.cpu_count()} cores; "
        f"median of {REPEATS} runs of {LOGINS} logins each (pam_start → pam_authenticate → pam_end in one process, pam_wrapper). "
        f"Load average (1/5/15 min) at the start: {load_average()}.")
    say()

    # 1. Latency by user count, success and failure; pam_mfa with either store.
    columns = [("pam_mfa", "pam_mfa"), ("pam_mfa (postgres)", "pam_mfa_pg")] + [(m, m) for m in PEERS]
    latency = {}
    say("### Per-login latency (µs, median) by enrolled users")
    say()
    say("| path | users | " + " | ".join(c for c, _ in columns)
        + " | pam_mfa vs google-authenticator | pam_mfa vs fastest peer | postgres vs files |")
    say("|---|---|" + "---|" * len(columns) + "---|---|---|")
    for n in USER_COUNTS:
        base = setup(n)
        configure(base)
        fleet.load(base)
        for path in ["failure (wrong code)", "success (right code)"]:
            if path.startswith("success") and n < LOGINS:
                continue
            row = {}
            for col, m in columns:
                if path.startswith("success"):
                    fn = lambda: driver(base, m, LOGINS, 1, "right", fresh_users(base, LOGINS, m))
                else:
                    one = os.path.join(base, "users-one")
                    write(one, "bench0\n", 0o644)
                    fn = lambda: driver(base, m, LOGINS, 1, "wrong", one)
                med, runs = median_of_runs(fn)
                latency[(n, path.split()[0], col)] = med
                want_ok = LOGINS if path.startswith("success") else 0
                bad = [r for r in runs if r["ok"] != want_ok]
                row[col] = f"{med:.0f}" + (f" ({int(bad[0]['ok'])}/{LOGINS} ok!)" if bad else "")
            num = lambda c: float(row[c].split()[0])
            mfa, pg, ga = num("pam_mfa"), num("pam_mfa (postgres)"), num("pam_google_authenticator")
            say(f"| {path} | {n:,} | " + " | ".join(row[c] for c, _ in columns)
                + f" | {mfa / ga:.2f}× | {mfa / min(num(m) for m in PEERS):.2f}× | {pg / mfa:.2f}× |")
    say()
    say("pam_mfa (postgres): the same module and daemon with the fleet store; "
        f"{fleet_note()}")
    say()

    fixed_cost(say)

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

    # 2b. The fleet: two daemons (two hosts) on one store, files and postgres.
    say(f"### Throughput through two daemons on one store (successful logins per wall second; "
        f"success path, {per_thread} logins per thread)")
    say()
    say("Two pam_mfad, each with its own socket and config copy, on the same store: the file store's "
        "directory (its file locks) or the same PostgreSQL database. The threads are split between two "
        "driver processes, one per daemon, run at once; 1 thread drives the first daemon alone. "
        "The CPU columns are milliseconds of CPU per login (both drivers — libpam, module, TOTP code — "
        "both daemons, all PostgreSQL processes) during the run.")
    say()
    say("| users | threads | files | postgres | postgres CPU ms/login: drivers / pam_mfad / postgres |")
    say("|---|---|---|---|---|")
    throughput = {}
    pairs = {"files": ("pam_mfa", "pam_mfa_b"), "postgres": ("pam_mfa_pg", "pam_mfa_pg_b")}
    for n in [10_000, 100_000]:
        base = setup(n)
        configure(base)
        fleet.load(base)
        for threads in [1, 4, 16]:
            cells, cpu = [], ""
            for store, pair in pairs.items():
                users = fresh_users(base, threads * per_thread, f"pair-{store}-t{threads}")
                r = two_daemons(base, pair, per_thread, threads, users)
                throughput[(n, threads, store)] = r["per_second"]
                note = "" if r["ok"] == r["logins"] else f" ({int(r['logins'] - r['ok'])} of {int(r['logins'])} valid logins FAILED)"
                cells.append(f"{r['per_second']:.0f}{note}")
                if store == "postgres":
                    c = r["cpu_ms"]
                    cpu = f"{c['driver']:.2f} / {c['pam_mfad']:.2f} / {c['postgres']:.2f}"
            say(f"| {n:,} | {threads} | " + " | ".join(cells) + f" | {cpu} |")
    say()
    say(f"postgres: pool_size = {POOL_SIZE} per daemon (16 connections for 16 threads). {fleet_note()}")
    say()

    # The targets of issue 13 (fleet store), on this machine.
    say("### Targets (issue 13)")
    say()
    say("| target | measured | |")
    say("|---|---|---|")
    success = latency.get((100_000, "success", "pam_mfa (postgres)"))
    say(f"| postgres: success median ≤ 3 ms at 100,000 users | {success / 1000:.2f} ms | "
        f"{'met' if success <= 3000 else 'NOT met'} |")
    for n in [10_000, 100_000]:
        tp = throughput[(n, 16, "postgres")]
        say(f"| postgres: ≥ 1,000 logins/s at 16 threads through two daemons ({n:,} users) | {tp:.0f}/s | "
            f"{'met' if tp >= 1000 else 'NOT met'} |")
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
    daemon = daemons.get((base, "pam_mfa"))
    if daemon:
        with open(f"/proc/{daemon.pid}/status") as f:
            rss_daemon = next(l.split()[1] for l in f if l.startswith("VmRSS:"))
        say(f"pam_mfad itself, one per host: {rss_daemon} KiB resident after these logins.")
    stop_daemons()
    say()
    say(f"Load average (1/5/15 min) at the end: {load_average()}; the machine was shared with other work, "
        "so the numbers are noisy.")

    dest = os.path.join(TARGET, "bench")
    os.makedirs(dest, exist_ok=True)
    with open(os.path.join(dest, "results.md"), "w") as f:
        f.write("\n".join(out) + "\n")
    print(f"\nsaved to {os.path.join(dest, 'results.md')}")


if __name__ == "__main__":
    try:
        sys.exit(main())
    finally:
        try:
            stop_daemons()
        finally:
            fleet.stop()
