#!/usr/bin/env bash
# Benchmarks pam_mfa against pam_google_authenticator and pam_oath (Debian's
# packages), and pam_mfa's file store against its fleet store (a PostgreSQL 15
# cluster the benchmark starts and stops itself, durable), side by side in one
# run; prints a markdown table and saves it to target/bench/results.md (under
# CARGO_TARGET_DIR when set). Run as root on Debian 12. The first run creates
# 100,000 users' files and loads them into PostgreSQL (`mfa-token store copy`,
# minutes), all kept under /var/tmp/pam_mfa-bench for the next runs; then it
# takes about 10-20 minutes. On a virtual machine whose cpuidle haltpoll driver
# has guest_halt_poll_ns = 0, the fixed cost is measured a second time with the
# kernel's default (200000 ns) and the setting is put back to 0 afterwards.
#   BENCH_LOGINS=1000 BENCH_REPEATS=3 bash tests/bench/run.sh
set -euo pipefail
cd "$(dirname "$0")/../.."
# tests/deps.sh installs the peers (libpam-google-authenticator, libpam-oath),
# valgrind and postgresql (15) with the rest.
bash tests/deps.sh
cargo build --release --quiet -p pam_mfa -p pam_mfad -p mfa-token
cargo build --release --quiet -p pam_mfa-e2e --bin pam_driver
exec /usr/bin/python3 tests/bench/bench.py
