#!/usr/bin/env bash
# Kills libfido2 clients at random moments of a getAssertion (before, during and after
# the key's answer; touch delayed 0-40 ms so some die mid-keepalive) and checks that the
# very next client always gets a valid assertion: the key drops stale reports.
#
# Usage: tests/fido/stress_killed_clients.sh [ITERATIONS]   (default 50)
set -u -o pipefail

HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
N="${1:-50}"
DIR="$(mktemp -d /var/tmp/vkey-stress.XXXXXX)"
KEY_PID=""
cleanup() {
  [ -n "$KEY_PID" ] && kill -TERM "$KEY_PID" 2>/dev/null && wait "$KEY_PID" 2>/dev/null
  if [ -n "${VKEY_KEEP:-}" ]; then echo "kept $DIR"; else rm -rf "$DIR"; fi
}
trap cleanup EXIT
trap 'exit 130' INT TERM

/usr/bin/python3 "$HERE/virtual_key.py" --dir "$DIR" 2>"$DIR/key.log" &
KEY_PID=$!
for _ in $(seq 100); do [ -f "$DIR/ready" ] && break; sleep 0.1; done
[ -f "$DIR/ready" ] || { echo "key did not start"; cat "$DIR/key.log"; exit 1; }
FIDO=(env LD_PRELOAD=libumockdev-preload.so.0 UMOCKDEV_DIR="$(cat "$DIR/umockdev_dir")")
b64rand() { head -c "$1" /dev/urandom | base64 -w0; }

printf '%s\nstress.example\nalice\n%s\n' "$(b64rand 32)" "$(b64rand 16)" >"$DIR/cred.in"
"${FIDO[@]}" fido2-cred -M -i "$DIR/cred.in" -o "$DIR/cred" /dev/hidraw0 es256 &&
  fido2-cred -V -i "$DIR/cred" -o "$DIR/pub" es256 || { echo "setup failed"; exit 1; }
tail -n +2 "$DIR/pub" >"$DIR/pk.pem"
CRED="$(head -1 "$DIR/pub")"

passed=0
failed=0
killed=0
for i in $(seq "$N"); do
  printf '{"touch": "delay:%d"}\n' $((RANDOM % 41)) >"$DIR/behaviour.json"
  printf '%s\nstress.example\n%s\n' "$(b64rand 32)" "$CRED" >"$DIR/a.in"
  "${FIDO[@]}" fido2-assert -G -p -i "$DIR/a.in" -o "$DIR/a.out" /dev/hidraw0 2>/dev/null &
  victim=$!
  sleep "0.0$(printf '%02d' $((RANDOM % 60)))"
  kill -KILL "$victim" 2>/dev/null && killed=$((killed + 1))
  wait "$victim" 2>/dev/null
  echo '{}' >"$DIR/behaviour.json"
  printf '%s\nstress.example\n%s\n' "$(b64rand 32)" "$CRED" >"$DIR/a.in"
  if timeout 10 "${FIDO[@]}" fido2-assert -G -p -i "$DIR/a.in" -o "$DIR/a.out" /dev/hidraw0 2>"$DIR/err" &&
     fido2-assert -V -p -i "$DIR/a.out" "$DIR/pk.pem" es256 2>>"$DIR/err"; then
    passed=$((passed + 1))
  else
    failed=$((failed + 1))
    echo "FAIL - iteration $i: $(tr '\n' ' ' <"$DIR/err")"
  fi
done
echo "# $killed of $N victims were killed before they finished; $(grep -c 'dropped stale' "$DIR/key.log") resets dropped stale reports"
echo "$passed passed, $failed failed"
[ "$failed" -eq 0 ]
