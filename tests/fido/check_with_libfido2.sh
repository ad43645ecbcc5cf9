#!/usr/bin/env bash
# Proves the virtual key against an independent client: libfido2's tools (fido2-tools)
# talking to the umockdev-emulated /dev/hidraw0 through libfido2's own hidraw code.
# Starts the key in a fresh DIR under /var/tmp, runs the checks, prints each one,
# and always stops the key and removes DIR. Exit 0 only if every check passed.
#
# Usage: tests/fido/check_with_libfido2.sh [-q]     (-q: print only failures and the total)
#        VKEY_KEEP=1 keeps DIR (with the key's log, key.log) for debugging.
set -u -o pipefail

HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
QUIET=0
[ "${1:-}" = "-q" ] && QUIET=1

for tool in fido2-token fido2-cred fido2-assert; do
  command -v "$tool" >/dev/null || { echo "missing $tool (Debian package fido2-tools)" >&2; exit 2; }
done
[ -x /usr/bin/python3 ] || { echo "missing /usr/bin/python3" >&2; exit 2; }

DIR="$(mktemp -d /var/tmp/vkey-check.XXXXXX)"
KEY_PID=""
passed=0
failed=0

cleanup() {
  if [ -n "$KEY_PID" ] && kill -0 "$KEY_PID" 2>/dev/null; then
    kill -TERM "$KEY_PID" 2>/dev/null
    for _ in $(seq 50); do kill -0 "$KEY_PID" 2>/dev/null || break; sleep 0.1; done
    kill -KILL "$KEY_PID" 2>/dev/null
  fi
  wait 2>/dev/null
  if [ -n "${VKEY_KEEP:-}" ]; then echo "kept $DIR"; else rm -rf "$DIR"; fi
}
trap cleanup EXIT
trap 'exit 130' INT TERM

ok()   { passed=$((passed + 1)); [ "$QUIET" = 1 ] || echo "ok   - $*"; }
fail() { failed=$((failed + 1)); echo "FAIL - $*"; }
check() { # check "description" command...
  local what="$1"; shift
  if "$@" >"$DIR/out" 2>"$DIR/err"; then ok "$what"; return 0; fi
  fail "$what"; sed 's/^/       /' "$DIR/err" | head -5; return 1
}
behaviour() { printf '%s\n' "$1" > "$DIR/behaviour.json.tmp" && mv "$DIR/behaviour.json.tmp" "$DIR/behaviour.json"; }
b64rand() { head -c "$1" /dev/urandom | base64 -w0; }
# fido2-cred/fido2-assert print authData CBOR-wrapped: a byte-string head (0x58 LEN)
# precedes rpIdHash(32) | flags(1) | signCount(4, big-endian) | ...
authdata_bytes() { base64 -d <<<"$1" | od -An -tu1 -v | tr -s ' \n' ' '; }
flags_of() { authdata_bytes "$1" | awk '{print $35}'; }
counter_of() { authdata_bytes "$1" | awk '{printf "%d\n", (($36*256+$37)*256+$38)*256+$39}'; }

# ---------------------------------------------------------------- start the key
start_key() { # sets KEY_PID, FIDO (the client environment); returns 1 if it did not start
  rm -f "$DIR/ready"
  /usr/bin/python3 "$HERE/virtual_key.py" --dir "$DIR" 2>>"$DIR/key.log" &
  KEY_PID=$!
  for _ in $(seq 100); do
    [ -f "$DIR/ready" ] && break
    kill -0 "$KEY_PID" 2>/dev/null || break
    sleep 0.1
  done
  [ -f "$DIR/ready" ] || return 1
  FIDO=(timeout 30 env LD_PRELOAD=libumockdev-preload.so.0 UMOCKDEV_DIR="$(cat "$DIR/umockdev_dir")")
}
stop_key() {
  kill -TERM "$KEY_PID" 2>/dev/null
  for _ in $(seq 50); do kill -0 "$KEY_PID" 2>/dev/null || break; sleep 0.1; done
  wait "$KEY_PID" 2>/dev/null
}
START_NS=$(date +%s%N)
if ! start_key; then
  echo "FAIL - virtual key did not start:"; sed 's/^/       /' "$DIR/key.log"
  echo "0 passed, 1 failed"; exit 1
fi
ok "virtual key ready in $((($(date +%s%N) - START_NS) / 1000000)) ms"
fido() { "${FIDO[@]}" "$@"; }
DEV=/dev/hidraw0
RP=login.example.org

# ---------------------------------------------------------------- discovery
if fido fido2-token -L >"$DIR/list" 2>"$DIR/err" && grep -q "^/dev/hidraw0: vendor=0x1209, product=0x000a" "$DIR/list"; then
  ok "fido2-token -L lists the key: $(cat "$DIR/list")"
else
  fail "fido2-token -L: $(cat "$DIR/list" "$DIR/err")"
fi
if fido fido2-token -I "$DEV" >"$DIR/info" 2>"$DIR/err"; then
  ok "fido2-token -I reads authenticatorGetInfo"
  grep -q "version strings: FIDO_2_0, FIDO_2_1" "$DIR/info" && ok "info: versions FIDO_2_0, FIDO_2_1" || fail "info: versions"
  grep -q "algorithms: es256 (public-key), eddsa (public-key)" "$DIR/info" && ok "info: algorithms es256, eddsa" || fail "info: algorithms"
  grep -q "aaguid: db147a62a1e68c55a5977490ab65cb2e" "$DIR/info" && ok "info: aaguid" || fail "info: aaguid"
  grep -q "options: nork, up, noplat, noclientPin, pinUvAuthToken" "$DIR/info" && ok "info: options rk=false up clientPin=false" || fail "info: options: $(grep options "$DIR/info")"
  grep -q "pin protocols: 2, 1" "$DIR/info" && ok "info: pin protocols 2, 1" || fail "info: pin protocols"
else
  fail "fido2-token -I"; sed 's/^/       /' "$DIR/err" | head -5
fi

# ---------------------------------------------------------------- per algorithm
declare -A CRED_ID PUBKEY
for alg in es256 eddsa; do
  cdh="$(b64rand 32)"
  printf '%s\n%s\n%s\n%s\n' "$cdh" "$RP" "alice" "$(b64rand 16)" >"$DIR/cred.in"
  if ! check "fido2-cred -M makes an $alg credential" fido fido2-cred -M -i "$DIR/cred.in" -o "$DIR/cred.$alg" "$DEV" "$alg"; then
    continue
  fi
  fmt="$(sed -n 3p "$DIR/cred.$alg")"
  [ "$fmt" = packed ] && ok "$alg: attestation format is packed (self attestation, no x5c)" || fail "$alg: format '$fmt'"
  [ "$(wc -l <"$DIR/cred.$alg")" -eq 6 ] && ok "$alg: no attestation certificate" || fail "$alg: unexpected x5c line"
  flags="$(flags_of "$(sed -n 4p "$DIR/cred.$alg")")"
  [ $((flags & 0x41)) -eq $((0x41)) ] && ok "$alg: makeCredential flags UP and AT set (0x$(printf %02x "$flags"))" || fail "$alg: flags $flags"
  if check "fido2-cred -V verifies the $alg packed attestation" fido2-cred -V -i "$DIR/cred.$alg" -o "$DIR/pub.$alg" "$alg"; then
    CRED_ID[$alg]="$(sed -n 1p "$DIR/pub.$alg")"
    tail -n +2 "$DIR/pub.$alg" >"$DIR/pk.$alg.pem"
    PUBKEY[$alg]="$DIR/pk.$alg.pem"
  else
    continue
  fi

  prev=""
  for n in 1 2; do
    printf '%s\n%s\n%s\n' "$(b64rand 32)" "$RP" "${CRED_ID[$alg]}" >"$DIR/assert.in"
    if ! check "fido2-assert -G gets $alg assertion #$n" fido fido2-assert -G -p -i "$DIR/assert.in" -o "$DIR/assert.$alg" "$DEV"; then
      continue 2
    fi
    check "fido2-assert -V verifies $alg assertion #$n with the credential's public key (UP required)" \
      fido2-assert -V -p -i "$DIR/assert.$alg" "${PUBKEY[$alg]}" "$alg"
    count="$(counter_of "$(sed -n 3p "$DIR/assert.$alg")")"
    if [ -n "$prev" ]; then
      [ "$count" -gt "$prev" ] && ok "$alg: sign counter grows ($prev -> $count)" || fail "$alg: sign counter $prev -> $count"
    fi
    prev="$count"
  done
done

# ---------------------------------------------------------------- state survives a restart
if [ -n "${CRED_ID[es256]:-}" ]; then
  stop_key
  if [ ! -e "$DIR/ready" ] && [ ! -e "$DIR/umockdev_dir" ] && [ -z "$(ls -A "$DIR/tmp" 2>/dev/null)" ]; then
    ok "SIGTERM: key stopped, testbed and ready/umockdev_dir removed"
  else
    fail "SIGTERM left files behind: $(ls "$DIR" "$DIR/tmp" 2>&1 | tr '\n' ' ')"
  fi
  if start_key; then
    printf '%s\n%s\n%s\n' "$(b64rand 32)" "$RP" "${CRED_ID[es256]}" >"$DIR/assert.in"
    fido fido2-assert -G -p -i "$DIR/assert.in" -o "$DIR/assert.es256" "$DEV" 2>"$DIR/err" \
      && fido2-assert -V -p -i "$DIR/assert.es256" "${PUBKEY[es256]}" es256 2>>"$DIR/err" \
      && [ "$(counter_of "$(sed -n 3p "$DIR/assert.es256")")" -eq 3 ] \
      && ok "restarted key (same DIR): es256 credential still asserts, counter continues at 3" \
      || fail "after restart: $(head -c 300 "$DIR/err")"
  else
    fail "key did not restart"; sed 's/^/       /' "$DIR/key.log" | tail -5
  fi
fi

# ---------------------------------------------------------------- the switches, seen by libfido2
if [ -n "${CRED_ID[es256]:-}" ]; then
  get_es256() { # -> assertion in $DIR/assert.sw, returns fido2-assert -G status
    printf '%s\n%s\n%s\n' "$(b64rand 32)" "$RP" "${CRED_ID[es256]}" >"$DIR/assert.in"
    fido fido2-assert -G -p -i "$DIR/assert.in" -o "$DIR/assert.sw" "$DEV" 2>"$DIR/err"
  }
  verify_es256() { fido2-assert -V "$@" -i "$DIR/assert.sw" "${PUBKEY[es256]}" es256 2>"$DIR/err"; }

  behaviour '{"tamper_signature": true}'
  get_es256 && ! verify_es256 -p && ok "tamper_signature: libfido2 rejects the signature" || fail "tamper_signature"
  behaviour '{"tamper_auth_data": true}'
  get_es256 && ! verify_es256 -p && ok "tamper_auth_data: libfido2 rejects the assertion" || fail "tamper_auth_data"
  behaviour '{"wrong_rp_id_hash": true}'
  get_es256 && ! verify_es256 -p && ok "wrong_rp_id_hash: libfido2 rejects the assertion" || fail "wrong_rp_id_hash"
  behaviour '{"up_clear": true}'
  get_es256 && verify_es256 && ! verify_es256 -p && ok "up_clear: signature valid, UP flag missing" || fail "up_clear"
  behaviour '{"counter": 3}'
  get_es256 && verify_es256 -p && [ "$(counter_of "$(sed -n 3p "$DIR/assert.sw")")" = 3 ] \
    && ok "counter=3: validly signed assertion reports counter 3" || fail "counter=3"
  behaviour '{"counter_zero": true}'
  get_es256 && verify_es256 -p && [ "$(counter_of "$(sed -n 3p "$DIR/assert.sw")")" = 0 ] \
    && ok "counter_zero: validly signed assertion reports counter 0" || fail "counter_zero"
  behaviour '{"unknown_credential": true}'
  ! get_es256 && grep -q "FIDO_ERR_NO_CREDENTIALS" "$DIR/err" && ok "unknown_credential: FIDO_ERR_NO_CREDENTIALS" \
    || fail "unknown_credential: $(head -c 200 "$DIR/err")"
  behaviour '{"malformed_cbor": true}'
  ! get_es256 && ok "malformed_cbor: libfido2 refuses the reply" || fail "malformed_cbor"
  behaviour '{"bad_framing": true}'
  ! get_es256 && ok "bad_framing (seq): libfido2 refuses the reply" || fail "bad_framing seq"
  behaviour '{"bad_framing": "cid"}'
  ! get_es256 && ok "bad_framing (cid): libfido2 refuses the reply" || fail "bad_framing cid"
  behaviour '{"bad_framing": "reorder"}'
  ! get_es256 && ok "bad_framing (reorder): libfido2 refuses the reply" || fail "bad_framing reorder"
  behaviour '{"touch": "delay:300"}'
  t0=$(date +%s%N)
  get_es256 && verify_es256 -p && t1=$(date +%s%N) && [ $(((t1 - t0) / 1000000)) -ge 300 ] \
    && ok "touch=delay:300: answer after keepalives, $(((t1 - t0) / 1000000)) ms" || fail "touch=delay:300"
  behaviour '{"touch": "never"}'
  printf '%s\n%s\n%s\n' "$(b64rand 32)" "$RP" "${CRED_ID[es256]}" >"$DIR/assert.in"
  timeout 1 "${FIDO[@]}" fido2-assert -G -p -i "$DIR/assert.in" -o "$DIR/assert.sw" "$DEV" >/dev/null 2>&1
  [ $? -eq 124 ] && ok "touch=never: client still waiting after 1 s (killed by SIGTERM)" || fail "touch=never: client did not hang"
  behaviour '{}'
  get_es256 && verify_es256 -p && ok "next client after one killed mid-request: assertion verifies" \
    || fail "client after a killed one: $(head -c 200 "$DIR/err")"
  behaviour '{"silent": true}'
  timeout 1 "${FIDO[@]}" fido2-token -I "$DEV" >/dev/null 2>&1
  [ $? -eq 124 ] && ok "silent: fido2-token -I gets no answer (killed after 1 s)" || fail "silent"
  behaviour '{}'
  check "after silent: fido2-token -I answers again" fido fido2-token -I "$DEV"
fi

# ---------------------------------------------------------------- PIN (clientPIN), last:
# once a PIN is set, makeCredential needs it. setsid: no terminal, so the tools read
# the PIN from stdin (and the client is a session leader, which the key must survive).
with_pin() { local pin="$1"; shift; printf '%s\n%s\n' "$pin" "$pin" | setsid "${FIDO[@]}" "$@"; }
behaviour '{}'
check "fido2-token -S sets PIN 1234 (clientPIN setPIN)" with_pin 1234 fido2-token -S "$DEV"
fido fido2-token -I "$DEV" >"$DIR/info" 2>&1
grep -q "options: .* clientPin," "$DIR/info" && grep -q "pin retries: 8" "$DIR/info" \
  && ok "info: clientPin=true, 8 retries" || fail "info after setPIN: $(grep -E 'options|retries' "$DIR/info")"
printf '%s\n%s\n%s\n%s\n' "$(b64rand 32)" "$RP" "bob" "$(b64rand 16)" >"$DIR/cred.in"
! with_pin "" fido2-cred -M -i "$DIR/cred.in" -o "$DIR/cred.pin" "$DEV" es256 2>/dev/null \
  && grep -q "makeCredential -> 0x36" "$DIR/key.log" \
  && ok "makeCredential without PIN: CTAP2_ERR_PUAT_REQUIRED (0x36) once a PIN is set" || fail "makeCredential without PIN"
if check "fido2-cred -M with PIN 1234 (PIN token, pinUvAuthParam)" with_pin 1234 fido2-cred -M -i "$DIR/cred.in" -o "$DIR/cred.pin" "$DEV" es256 &&
   check "fido2-cred -V -v verifies the attestation with UV required" fido2-cred -V -v -i "$DIR/cred.pin" -o "$DIR/pub.pin" es256; then
  tail -n +2 "$DIR/pub.pin" >"$DIR/pk.pin.pem"
  printf '%s\n%s\n%s\n' "$(b64rand 32)" "$RP" "$(head -1 "$DIR/pub.pin")" >"$DIR/assert.in"
  check "fido2-assert -G -v with PIN 1234" with_pin 1234 fido2-assert -G -p -v -i "$DIR/assert.in" -o "$DIR/assert.pin" "$DEV"
  check "fido2-assert -V -p -v verifies it (UP and UV flags signed)" fido2-assert -V -p -v -i "$DIR/assert.pin" "$DIR/pk.pin.pem" es256
  ! with_pin 9999 fido2-assert -G -p -v -i "$DIR/assert.in" -o "$DIR/assert.pin" "$DEV" 2>"$DIR/err" && grep -q FIDO_ERR_PIN_INVALID "$DIR/err" \
    && ok "wrong PIN: FIDO_ERR_PIN_INVALID" || fail "wrong PIN: $(cat "$DIR/err")"
  fido fido2-token -I "$DEV" 2>&1 | grep -q "pin retries: 7" && ok "wrong PIN cost one retry (7 left)" || fail "retries after a wrong PIN"
  behaviour '{"pin": "5678"}'
  check "switch pin=5678: assertion with PIN 5678" with_pin 5678 fido2-assert -G -p -v -i "$DIR/assert.in" -o "$DIR/assert.pin" "$DEV"
  fido fido2-token -I "$DEV" 2>&1 | grep -q "pin retries: 8" && ok "switch pin: retries back to 8" || fail "retries after the pin switch"
  behaviour '{"pin": "5678", "pin_protocols": [1]}'
  fido fido2-token -I "$DEV" 2>&1 | grep -q "pin protocols: 1$" && ok "switch pin_protocols=[1]: info lists protocol 1 only" || fail "pin_protocols info"
  check "PIN/UV auth protocol 1: assertion with PIN 5678" with_pin 5678 fido2-assert -G -p -v -i "$DIR/assert.in" -o "$DIR/assert.pin" "$DEV"
  check "PIN/UV auth protocol 1: fido2-assert -V -p -v verifies it" fido2-assert -V -p -v -i "$DIR/assert.pin" "$DIR/pk.pin.pem" es256
  grep -q "clientPIN(getPinUvAuthTokenUsingPinWithPermissions, protocol 1) -> 0x00" "$DIR/key.log" \
    && ok "key log: token issued under protocol 1" || fail "protocol 1 not used"
  behaviour '{"pin": "5678", "versions": ["FIDO_2_0"], "pin_protocols": [1]}'
  check "CTAP 2.0 key (switch versions): assertion with PIN 5678" with_pin 5678 fido2-assert -G -p -v -i "$DIR/assert.in" -o "$DIR/assert.pin" "$DEV"
  check "CTAP 2.0 key: fido2-assert -V -p -v verifies it" fido2-assert -V -p -v -i "$DIR/assert.pin" "$DIR/pk.pin.pem" es256
  grep -q "clientPIN(getPinToken, protocol 1) -> 0x00" "$DIR/key.log" \
    && ok "key log: token from getPinToken (CTAP 2.0 subcommand 5)" || fail "getPinToken not used"
  behaviour '{"pin": false, "uv": true}'
  fido fido2-token -I "$DEV" >"$DIR/info" 2>&1
  grep -q "options: nork, up, uv, noplat, noclientPin, pinUvAuthToken" "$DIR/info" && ok "switches pin=false uv=true: info options uv, noclientPin" \
    || fail "info with uv: $(grep options "$DIR/info")"
  check "fido2-assert -G -t uv=true (built-in UV)" fido fido2-assert -G -p -t uv=true -i "$DIR/assert.in" -o "$DIR/assert.pin" "$DEV"
  check "fido2-assert -V -p -v verifies the built-in-UV assertion" fido2-assert -V -p -v -i "$DIR/assert.pin" "$DIR/pk.pin.pem" es256
  behaviour '{"uv": true, "uv_clear": true}'
  fido fido2-assert -G -p -t uv=true -i "$DIR/assert.in" -o "$DIR/assert.pin" "$DEV" 2>/dev/null \
    && fido2-assert -V -p -i "$DIR/assert.pin" "$DIR/pk.pin.pem" es256 2>/dev/null \
    && ! fido2-assert -V -p -v -i "$DIR/assert.pin" "$DIR/pk.pin.pem" es256 2>/dev/null \
    && ok "uv_clear: signature valid, UV flag missing" || fail "uv_clear"
  behaviour '{}'
fi

if grep -q "Traceback" "$DIR/key.log"; then
  fail "virtual key logged a Python traceback:"; grep -A5 Traceback "$DIR/key.log" | sed 's/^/       /' | head -20
fi
if ! kill -0 "$KEY_PID" 2>/dev/null; then fail "virtual key is no longer running"; fi

echo "$passed passed, $failed failed"
[ "$failed" -eq 0 ]
