#!/usr/bin/env bash
# Runs every fuzz target for SECONDS each (default 5; CI's smoke run), starting
# from the seeds in fuzz/seeds/<target> plus what earlier runs found.
#   bash fuzz/run.sh [SECONDS] [TARGET...]
#   bash fuzz/run.sh build      (only install cargo-fuzz if needed and build)
# A longer campaign: bash fuzz/run.sh 600
# Uses cargo-fuzz with --sanitizer none, which works on the stable toolchain.
set -euo pipefail
cd "$(dirname "$0")"
seconds=${1:-5}
shift || true
if ! command -v cargo-fuzz >/dev/null; then
  echo "fuzz/run.sh: installing cargo-fuzz" >&2
  cargo install --quiet --locked cargo-fuzz
fi
cargo fuzz build --sanitizer none >/dev/null
[ "$seconds" = build ] && exit 0
targets=("$@")
[ "${#targets[@]}" -gt 0 ] || mapfile -t targets < <(cargo fuzz list)
for t in "${targets[@]}"; do
  mkdir -p "corpus/$t"
  out=$(cargo fuzz run --sanitizer none "$t" "corpus/$t" "seeds/$t" -- \
        -max_total_time="$seconds" -print_final_stats=1 2>&1) || {
    printf '%s\n' "$out" | tail -40
    echo "fuzz target $t FAILED (reproducer in fuzz/artifacts/$t)" >&2
    exit 1
  }
  runs=$(printf '%s\n' "$out" | sed -n 's/^stat::number_of_executed_units: *//p' | tail -1)
  echo "fuzz $t: ${runs:-?} runs in ${seconds}s, no failure"
done
