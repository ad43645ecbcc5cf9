#!/usr/bin/env bash
# Benchmarks pam_mfa against pam_google_authenticator and pam_oath (Debian's
# packages), side by side in one run; prints a markdown table and saves it to
# target/bench/results.md (under CARGO_TARGET_DIR when set). Run as root on
# Debian 12. Takes a few minutes (it creates 100,000 users' files once, under
# /var/tmp/pam_mfa-bench).
#   BENCH_LOGINS=1000 BENCH_REPEATS=3 bash tests/bench/run.sh
set -euo pipefail
cd "$(dirname "$0")/../.."
# tests/deps.sh installs the peers (libpam-google-authenticator, libpam-oath) and
# valgrind with the rest.
bash tests/deps.sh
cargo build --release --quiet -p pam_mfa -p pam_mfad
cargo build --release --quiet -p pam_mfa-e2e --bin pam_driver
exec /usr/bin/python3 tests/bench/bench.py
