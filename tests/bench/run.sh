#!/usr/bin/env bash
# Benchmarks pam_mfa against pam_google_authenticator and pam_oath (Debian's
# packages), side by side in one run; prints a markdown table and saves it to
# target/bench/results.md. Run as root on Debian 12. Takes a few minutes (it
# creates 100,000 users' files once, under /var/tmp/pam_mfa-bench).
#   BENCH_LOGINS=1000 BENCH_REPEATS=3 bash tests/bench/run.sh
set -euo pipefail
cd "$(dirname "$0")/../.."
bash tests/deps.sh
missing=()
for p in libpam-google-authenticator libpam-oath valgrind; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "ok installed" || missing+=("$p")
done
if [ "${#missing[@]}" -gt 0 ]; then
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi
cargo build --release --quiet -p pam_mfa -p pam_mfa-e2e --bin pam_driver
exec /usr/bin/python3 tests/bench/bench.py
