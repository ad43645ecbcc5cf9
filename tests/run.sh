#!/usr/bin/env bash
# The whole test suite: formatting, lints, unit tests and the end-to-end suites
# (release module under real libpam via pam_wrapper, mfa-token, oathtool codes).
# Run as root on Debian 12: the module trusts only root-owned files.
set -euo pipefail
cd "$(dirname "$0")/.."

bash tests/deps.sh
stamp() { echo "== $1 ($(date -u +%T))"; }
stamp "cargo fmt --check"
cargo fmt --all -- --check
stamp "cargo clippy"
cargo clippy --workspace --all-targets --quiet -- -D warnings
stamp "cargo test"
# The end-to-end tests mostly wait (sshd, sudo, delivery commands, keys that do not
# answer), so four at a time finish sooner than one per core.
cargo test --workspace -- --test-threads=4
stamp "fuzz smoke run (5 s per target; longer: bash fuzz/run.sh 600)"
bash fuzz/run.sh 5 2>&1 | grep -E '^fuzz |FAILED|panicked'
stamp "all tests passed"
