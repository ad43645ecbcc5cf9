#!/usr/bin/env bash
# Installs the Debian packages that building pam_mfa and running its tests and demo
# need. Idempotent: does nothing when everything is present. Needs root (apt-get).
# The only list: every package a suite's require("tool", "package") names must be in
# it (a unit test in tests/src/deps.rs checks that), and the packages suite runs this
# script in a fresh Debian root and finds every tool.
set -euo pipefail

packages=(
  # building
  gcc pkg-config libpam0g-dev   # linking the module against libpam
  libudev-dev                   # hidapi's hidraw backend (security keys)
  # real libpam and independent codes
  pamtester libpam-wrapper      # real libpam without touching /etc/pam.d
  oathtool                      # an independent TOTP implementation
  libpam-google-authenticator   # its google-authenticator tool writes files to import
  util-linux mount              # unshare, setpriv, mount: private /tmp, /dev, /etc per run
  passwd                        # useradd/userdel/groupadd/gpasswd/chpasswd for test users
  # real login paths (login_paths suite)
  openssh-server openssh-client # sshd on 127.0.0.1 and a real ssh client
  sudo                          # real sudo in a mount namespace
  # packages suite
  dpkg dpkg-dev binutils        # dpkg-deb, dpkg-architecture; strip
  rpm                           # rpmbuild, and rpm -qp to read the .rpm back
  lintian                       # the .deb must be lintian-clean
  debootstrap                   # a fresh bookworm root to install the .deb into
  systemd                       # systemd-analyze checks the shipped units (nothing is started)
  # virtual FIDO2 key (fido2 suite, tests/fido)
  python3 python3-gi python3-cryptography
  umockdev libumockdev0 gir1.2-umockdev-1.0
  fido2-tools                   # libfido2's tools check the virtual key
  libhidapi-hidraw0             # tests/fido/check_with_hidapi.py
  # benchmarks (tests/bench): the peers, and callgrind
  libpam-oath valgrind
  # fleet store (fleet suite): a real server the harness starts, a CA for its TLS
  postgresql                    # Debian's server (15); no cluster of its own, see below
  openssl                       # the test CA and server certificates
)

missing=()
for p in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "ok installed" || missing+=("$p")
done
if [ "${#missing[@]}" -gt 0 ]; then
  if [ "$(id -u)" -ne 0 ]; then
    echo "tests/deps.sh: missing Debian packages: ${missing[*]} (run as root to install them)" >&2
    exit 1
  fi
  echo "tests/deps.sh: installing ${missing[*]}" >&2
  # Installing openssh-server must not start an sshd on port 22: the suites start
  # their own. policy-rc.d tells the maintainer scripts not to start services.
  made_policy=
  if [ ! -e /usr/sbin/policy-rc.d ]; then
    printf '#!/bin/sh\nexit 101\n' > /usr/sbin/policy-rc.d
    chmod 755 /usr/sbin/policy-rc.d
    made_policy=1
  fi
  # Installing postgresql must not create (nor start) the default cluster "main":
  # the fleet suite starts its own servers. postgresql-common reads
  # createcluster.conf, which includes createcluster.d; a drop-in there (a file no
  # package owns, so no configuration-file prompt) says no.
  if [[ " ${missing[*]} " == *" postgresql "* ]]; then
    mkdir -p /etc/postgresql-common/createcluster.d
    printf '# tests/deps.sh (pam_mfa): the test suites start their own servers.\ncreate_main_cluster = false\n' \
      > /etc/postgresql-common/createcluster.d/pam_mfa-tests.conf
  fi
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
  [ -z "$made_policy" ] || rm -f /usr/sbin/policy-rc.d
fi

if ! command -v cargo >/dev/null; then
  echo "tests/deps.sh: cargo not found. Install Rust (1.89 or newer) with rustup: https://rustup.rs" >&2
  exit 1
fi
