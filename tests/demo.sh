#!/usr/bin/env bash
# Quick start: installs the build dependencies, builds pam_mfa, starts pam_mfad
# on a temporary socket, then enrolls a throwaway user in a temporary store and
# logs them in through real libpam (pam_wrapper, so /etc/pam.d is not touched)
# and the release module, showing each step and what pam_mfad logged.
# Run as root on Debian 12. Everything it creates is removed (and the daemon
# stopped) at the end.
set -euo pipefail
cd "$(dirname "$0")/.."

if [ "$(id -u)" -ne 0 ]; then
  echo "demo: run as root (sudo bash tests/demo.sh): pam_mfad and mfa-token only trust root-owned files" >&2
  exit 1
fi
bash tests/deps.sh
echo "== building (cargo build --release)"
cargo build --release --quiet

# Cargo's target directory (CARGO_TARGET_DIR or a cargo config may move it).
target=$(cargo metadata --format-version 1 --no-deps |
  sed -n 's/.*"target_directory":"\([^"\\]*\)".*/\1/p')
[ -n "$target" ] || { echo "demo: cannot read cargo's target directory" >&2; exit 1; }
module=$target/release/libpam_mfa.so
cli=$target/release/mfa-token
daemon=$target/release/pam_mfad
tmp=$(mktemp -d /tmp/pam_mfa-demo.XXXXXX)
user=mfademo$$
secret=JBSWY3DPEHPK3PXPJBSWY3DPEHPK3PXP
daemon_pid=
log_pid=
cleanup() {
  if [ -n "$daemon_pid" ]; then
    # SIGTERM: pam_mfad finishes the logins in flight (none by now) and exits.
    kill -TERM "$daemon_pid" 2>/dev/null || true
    wait "$daemon_pid" 2>/dev/null || true
  fi
  [ -z "$log_pid" ] || kill "$log_pid" 2>/dev/null || true
  userdel "$user" 2>/dev/null || true
  rm -rf "$tmp"
}
trap cleanup EXIT

useradd --system --no-create-home --shell /usr/sbin/nologin "$user"
mkdir -m 700 "$tmp/store" "$tmp/pam.d"
cat > "$tmp/config.toml" <<CONF
[store]
dir = "$tmp/store"
[policy]
fail_delay_ms = 0
CONF
echo "auth required $module socket=$tmp/socket" > "$tmp/pam.d/demo"

step() { printf '\n\033[1m== %s\033[0m\n' "$*"; }
show() { printf '$ %s\n' "$*"; "$@"; }

# What pam_mfad sends to syslog, shown by the demo: the daemon runs in a private
# mount namespace whose /dev has the usual nodes and a "log" that is this
# socket, read into $tmp/daemon.log. The machine's /dev and syslog are untouched.
python3 -c '
import socket, sys
s = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
s.bind(sys.argv[1])
with open(sys.argv[2], "a", buffering=1) as out:
    while True:
        out.write(s.recv(65536).decode(errors="replace").rstrip("\n") + "\n")
' "$tmp/log.sock" "$tmp/daemon.log" &
log_pid=$!
touch "$tmp/daemon.log"

# True once something accepts connections on socket $1.
accepts() {
  python3 -c 'import socket, sys; socket.socket(socket.AF_UNIX).connect(sys.argv[1])' "$1" 2>/dev/null
}

step "0. Start pam_mfad, the service that decides (pam_mfa.so only asks it)"
printf '$ pam_mfad --config %s --socket %s &\n' "$tmp/config.toml" "$tmp/socket"
for _ in $(seq 50); do [ -S "$tmp/log.sock" ] && break; sleep 0.1; done
[ -S "$tmp/log.sock" ] || { echo "demo: the log reader did not start" >&2; exit 1; }
unshare --mount --propagation private -- sh -c '
  mount -t tmpfs -o size=1m,mode=755 dev /dev &&
  mknod -m 666 /dev/null c 1 3 && mknod -m 666 /dev/zero c 1 5 &&
  mknod -m 666 /dev/random c 1 8 && mknod -m 666 /dev/urandom c 1 9 &&
  touch /dev/log && mount --bind "$1" /dev/log &&
  exec "$2" --config "$3" --socket "$4"' \
  sh "$tmp/log.sock" "$daemon" "$tmp/config.toml" "$tmp/socket" &
daemon_pid=$!
# Ready once the socket accepts: at most 10 s, and not at all if it exited.
for _ in $(seq 100); do
  accepts "$tmp/socket" && break
  kill -0 "$daemon_pid" 2>/dev/null || { echo "demo: pam_mfad exited:" >&2; cat "$tmp/daemon.log" >&2; exit 1; }
  sleep 0.1
done
accepts "$tmp/socket" || { echo "demo: pam_mfad did not accept connections within 10 s" >&2; exit 1; }
echo "  pam_mfad is listening on $tmp/socket"

# One login through libpam: pamtester answers the prompt with $1. What the
# module logs itself (pam_wrapper prints it) and what pam_mfad logged meanwhile
# are shown as "syslog: ...".
login() {
  local answer=$1 out seen
  seen=$(wc -l < "$tmp/daemon.log")
  printf '$ pamtester demo %s authenticate   # answering %s\n' "$user" "$answer"
  out=$(echo "$answer" | LD_PRELOAD=libpam_wrapper.so PAM_WRAPPER=1 \
        PAM_WRAPPER_SERVICE_DIR="$tmp/pam.d" PAM_WRAPPER_DEBUGLEVEL=3 \
        pamtester demo "$user" authenticate 2>&1) && rc=0 || rc=$?
  printf '%s\n' "$out" | sed -E 's/PWRAP_.*$//' | grep -v '^[[:space:]]*$' | sed 's/^/  /'
  # (pam_wrapper's own note about the missing "other" service is left out.)
  printf '%s\n' "$out" | grep -o 'SYSLOG([0-9]*): .*' | grep -v ': _pam_init_handlers: ' |
    sed 's/^SYSLOG([0-9]*): /  syslog: /' || true
  sleep 0.2   # the reader writes pam_mfad's lines a moment after they are sent
  tail -n +"$((seen + 1))" "$tmp/daemon.log" | sed -E 's/^<[0-9]+>/  syslog: /'
  return 0
}

step "1. Enroll $user: QR code, key, and the app's current code typed back (here: from oathtool)"
# mfa-token takes the key on standard input (first line), never in its arguments,
# where every user could read it; the code follows on the next line. (oathtool,
# standing in for the phone, gets this throwaway demo key as an argument.)
printf '$ { echo KEY; oathtool --totp -b KEY; } | mfa-token enroll totp --user %s --secret-file -\n' "$user"
{ echo "$secret"; oathtool --totp -b "$secret"; } | "$cli" --config "$tmp/config.toml" enroll totp --user "$user" --secret-file - | tee "$tmp/enroll.out"
mapfile -t codes < <(grep -Eo '[0-9a-z]{4}-[0-9a-z]{4}-[0-9a-z]{4}-[0-9a-z]{4}' "$tmp/enroll.out")

step "2. The record on disk (root-only, mode 0600; recovery codes only as hashes)"
ls -l "$tmp/store"

step "3. Log in with the next code: the one typed at enrollment is already spent"
code=$(oathtool --totp -b "$secret" -N "now + 30 seconds")
login "$code"

step "4. The same code again: refused (each code works once)"
login "$code"

step "5. A wrong code: refused"
login 000000

step "6. A recovery code instead of the app: accepted once"
login "${codes[0]}"

step "7. The same recovery code again: refused"
login "${codes[0]}"

step "8. What mfa-token status shows now"
show "$cli" --config "$tmp/config.toml" status --user "$user"

step "Done. pam_mfad is stopped; the throwaway user and the temporary store are removed."
