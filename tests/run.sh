#!/usr/bin/env bash
# The whole test suite: formatting, lints, unit tests, the end-to-end suites
# (release module under real libpam via pam_wrapper, mfa-token, oathtool codes,
# sshd, sudo, packages, a virtual FIDO2 key) and a fuzz smoke run.
# Run as root on Debian 12: the module trusts only root-owned files.
#
# The machine has two cores and the suites mostly wait (sshd, sudo, dpkg, keys
# that do not answer, delivery commands), so after one build the suites run in
# three lanes at once while the fuzz targets build.
set -euo pipefail
cd "$(dirname "$0")/.."

stamp() { echo "== $1 ($(date -u +%T))"; }

bash tests/deps.sh
stamp "cargo fmt --check"
cargo fmt --all -- --check
stamp "cargo clippy"
cargo clippy --workspace --all-targets --quiet -- -D warnings

stamp "build: test binaries and release artifacts"
cargo test --workspace --no-run --quiet
cargo build --release --quiet -p pam_mfa -p mfa-token -p pam_mfad
cargo build --release --quiet -p pam_mfa-e2e --bin pam_driver

logs=target/test-logs
rm -rf "$logs"
mkdir -p "$logs"
bash fuzz/run.sh build >"$logs/fuzz-build.log" 2>&1 &
fuzz_build=$!

stamp "unit tests"
cargo test --workspace --lib --bins

# Every suite in tests/Cargo.toml must be in exactly one lane.
# packages (dpkg, debootstrap, lintian) is the longest suite: only the daemon suites join it.
lanes=("packages daemon self_service fleet" "activation login_paths cli pam_stack policy combined" "fido2 adversarial enroll import fleet_store apps hotp")
for suite in $(sed -n 's|^path = "suites/\(.*\)\.rs"|\1|p' tests/Cargo.toml); do
  [ "$(printf '%s\n' "${lanes[@]}" | tr ' ' '\n' | grep -cx "$suite")" = 1 ] || {
    echo "tests/run.sh: suite $suite is not in exactly one lane" >&2
    exit 1
  }
done

stamp "end-to-end suites, three lanes"
pids=()
for i in "${!lanes[@]}"; do
  (
    for suite in ${lanes[$i]}; do
      echo "-- suite $suite ($(date -u +%T))"
      cargo test --quiet -p pam_mfa-e2e --test "$suite" || exit 1
    done
  ) >"$logs/lane-$i.log" 2>&1 &
  pids+=($!)
done
failed=0
for i in "${!pids[@]}"; do
  wait "${pids[$i]}" || failed=1
  cat "$logs/lane-$i.log"
done
[ "$failed" = 0 ] || { echo "== end-to-end suites FAILED (logs above, also in $logs)"; exit 1; }

stamp "fuzz smoke run (5 s per target; longer: bash fuzz/run.sh 600)"
wait "$fuzz_build" || { cat "$logs/fuzz-build.log"; exit 1; }
bash fuzz/run.sh 5 2>&1 | grep -E '^fuzz |FAILED|panicked'
stamp "all tests passed"
