#!/usr/bin/env bash
# Builds the Debian and RPM packages from this tree:
#   bash packaging/build.sh [OUT_DIR]      (default: packages/ in cargo's target directory)
# Needs: cargo, dpkg-deb (dpkg), rpmbuild (rpm), gzip, binutils (strip);
# lintian is run on the .deb when installed. Both packages ship the module, the
# CLI, the daemon pam_mfad and its systemd units (packaging/systemd).
set -euo pipefail
cd "$(dirname "$0")/.."
# Cargo's target directory: ./target unless CARGO_TARGET_DIR or a cargo config moves
# it. A JSON string without quotes or backslashes in it is taken as it is.
target=$(cargo metadata --format-version 1 --no-deps |
  sed -n 's/.*"target_directory":"\([^"\\]*\)".*/\1/p')
[ -n "$target" ] || { echo "packaging/build.sh: cannot read cargo's target directory" >&2; exit 1; }
out=$(realpath -m "${1:-$target/packages}")
version=$(sed -n 's/^version = "\(.*\)"$/\1/p' module/Cargo.toml | head -n 1)
[ -n "$version" ] || { echo "packaging/build.sh: no version in module/Cargo.toml" >&2; exit 1; }
multiarch=$(dpkg-architecture -qDEB_HOST_MULTIARCH 2>/dev/null || echo x86_64-linux-gnu)
arch=$(dpkg --print-architecture)
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
mkdir -p "$out"

echo "== building release binaries and man pages"
cargo build --release --quiet -p pam_mfa -p mfa-token -p pam_mfad
cargo run --release --quiet -p pam_mfa-mangen -- "$work/man" >/dev/null

# The binaries as shipped: stripped of symbols and comments.
mkdir -p "$work/stage"
cp "$target/release/libpam_mfa.so" "$work/stage/pam_mfa.so"
cp "$target/release/mfa-token" "$target/release/pam_mfad" "$work/stage/"
strip --strip-unneeded --remove-section=.comment --remove-section=.note \
  "$work/stage/pam_mfa.so" "$work/stage/mfa-token" "$work/stage/pam_mfad"
cp conf/config.toml LICENSE packaging/systemd/pam_mfad.socket packaging/systemd/pam_mfad.service "$work/stage/"
mkdir -p "$work/stage/authselect"
cp packaging/authselect/pam_mfa/* "$work/stage/authselect/"
mkdir -p "$work/stage/man"
cp "$work/man/"* "$work/stage/man/"

echo "== .deb"
root="$work/deb/libpam-mfa"
install -D -m 0644 "$work/stage/pam_mfa.so" "$root/usr/lib/$multiarch/security/pam_mfa.so"
install -D -m 0755 "$work/stage/mfa-token" "$root/usr/bin/mfa-token"
install -D -m 0755 "$work/stage/pam_mfad" "$root/usr/sbin/pam_mfad"
# Debian 12 keeps system units in /lib (dpkg does not handle the /usr-merge
# aliasing of moved files yet).
for unit in pam_mfad.socket pam_mfad.service; do
  install -D -m 0644 "$work/stage/$unit" "$root/lib/systemd/system/$unit"
done
install -D -m 0644 conf/config.toml "$root/etc/pam_mfa/config.toml"
install -D -m 0644 packaging/pam-configs/pam_mfa "$root/usr/share/pam-configs/pam_mfa"
for page in "$work/man/"*; do
  section=${page##*.}
  install -D -m 0644 "$page" "$root/usr/share/man/man$section/$(basename "$page")"
  gzip -9n "$root/usr/share/man/man$section/$(basename "$page")"
done
install -D -m 0644 packaging/debian/copyright "$root/usr/share/doc/libpam-mfa/copyright"
install -D -m 0644 packaging/debian/changelog "$root/usr/share/doc/libpam-mfa/changelog"
gzip -9n "$root/usr/share/doc/libpam-mfa/changelog"
mkdir -p "$root/DEBIAN"
install -m 0755 packaging/debian/postinst packaging/debian/prerm packaging/debian/postrm "$root/DEBIAN/"
install -m 0644 packaging/debian/conffiles "$root/DEBIAN/"
size=$(du -sk --exclude=DEBIAN "$root" | cut -f1)
sed -e "s/@VERSION@/$version/" -e "s/@ARCH@/$arch/" -e "s/@SIZE@/$size/" \
  packaging/debian/control.in > "$root/DEBIAN/control"
(cd "$root" && find . -type f ! -path './DEBIAN/*' -printf '%P\0' | sort -z | xargs -0 md5sum > DEBIAN/md5sums)
chmod 0644 "$root/DEBIAN/md5sums"
deb="$out/libpam-mfa_${version}_${arch}.deb"
dpkg-deb --root-owner-group -Zxz --build "$root" "$deb" >/dev/null
echo "$deb"
if command -v lintian >/dev/null; then
  # No error or warning tags: there are no overrides to hide any.
  status=0
  lintian --fail-on error,warning --tag-display-limit 0 "$deb" > "$work/lintian.log" 2>&1 || status=$?
  grep -v "running with root privileges" "$work/lintian.log" || true
  [ "$status" -eq 0 ] || { echo "lintian failed" >&2; exit 1; }
  echo "lintian: clean"
fi

echo "== .rpm"
# rpm's %systemd_* macros come with systemd-rpm-macros on RPM distributions.
# Where rpm has none (Debian), the fallback definitions are loaded, and
# build dependencies cannot be checked (the rpm database is empty).
rpm_args=()
if [ -z "$(rpm --eval '%{?systemd_post:defined}')" ]; then
  rpm_args=(--load packaging/rpm/systemd-fallback.macros --nodeps)
fi
rpmbuild -bb --quiet "${rpm_args[@]}" \
  --define "_topdir $work/rpm" \
  --define "stage $work/stage" \
  --define "version_from_cargo $version" \
  packaging/rpm/pam_mfa.spec
cp "$work/rpm/RPMS/x86_64/"*.rpm "$out/"
ls "$out"/*.rpm
