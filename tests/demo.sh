#!/usr/bin/env bash
# Quick start: installs the build dependencies, builds pam_mfa, then enrolls a
# throwaway user in a temporary store and logs them in through real libpam
# (pam_wrapper, so /etc/pam.d is not touched), showing each step.
# Run as root on Debian 12. Everything it creates is removed at the end.
set -euo pipefail
cd "$(dirname "$0")/.."

if [ "$(id -u)" -ne 0 ]; then
  echo "demo: run as root (sudo bash tests/demo.sh): the module only trusts root-owned files" >&2
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
tmp=$(mktemp -d /tmp/pam_mfa-demo.XXXXXX)
user=mfademo$$
secret=JBSWY3DPEHPK3PXPJBSWY3DPEHPK3PXP
cleanup() {
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
echo "auth required $module config=$tmp/config.toml" > "$tmp/pam.d/demo"

step() { printf '\n\033[1m== %s\033[0m\n' "$*"; }
show() { printf '$ %s\n' "$*"; "$@"; }

# One login through libpam: pamtester answers the prompt with $2; the module's
# syslog lines (pam_wrapper prints them) are shown as "syslog: ...".
login() {
  local answer=$1 out
  printf '$ pamtester demo %s authenticate   # answering %s\n' "$user" "$answer"
  out=$(echo "$answer" | LD_PRELOAD=libpam_wrapper.so PAM_WRAPPER=1 \
        PAM_WRAPPER_SERVICE_DIR="$tmp/pam.d" PAM_WRAPPER_DEBUGLEVEL=3 \
        pamtester demo "$user" authenticate 2>&1) && rc=0 || rc=$?
  printf '%s\n' "$out" | sed -E 's/PWRAP_.*$//' | grep -v '^[[:space:]]*$' | sed 's/^/  /'
  printf '%s\n' "$out" | grep -o 'SYSLOG([0-9]*): user=.*' | sed 's/^SYSLOG([0-9]*): /  syslog: /'
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

step "Done. The throwaway user and the temporary store are removed."
