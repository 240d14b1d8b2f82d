#!/usr/bin/env bash
# Checks a Debian package built by scripts/package-deb.sh (default: the host's, the
# newest target/debian/lakenode_*_<arch>.deb, under $CARGO_TARGET_DIR if set): it holds
# /usr/bin/lakenode, the repository's unit and example config (a conffile), depends on
# libc6, has the systemd maintainer scripts, and the packaged binary runs (extracted into a temporary directory). CI runs it
# (.ci/run) after package-deb.sh.
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
cd "$root"
fail() { echo "check-deb.sh: $*" >&2; exit 1; }
deb="${1:-}"
if [ -z "$deb" ]; then
  target_dir="$(cargo metadata --format-version 1 --no-deps |
    python3 -c 'import json, sys; print(json.load(sys.stdin)["target_directory"])')"
  arch="$(dpkg --print-architecture)"
  deb="$(ls -t "$target_dir"/debian/lakenode_*_"$arch".deb 2>/dev/null | head -n 1)"
  [ -n "$deb" ] || fail "no lakenode_*_$arch.deb in $target_dir/debian (scripts/package-deb.sh first)"
fi
contents="$(dpkg-deb --contents "$deb")"
for path in ./usr/bin/lakenode ./usr/lib/systemd/system/lakenode.service ./etc/lakenode/station.toml.example; do
  grep -q " $path\$" <<<"$contents" || fail "$deb lacks $path: $contents"
done
info="$(dpkg-deb --info "$deb")"
grep -q "^ Package: lakenode$" <<<"$info" || fail "not package lakenode: $info"
grep -q "^ Depends: .*libc6" <<<"$info" || fail "no Depends on libc6 (\$auto): $info"
grep -qx " */etc/lakenode/station.toml.example" <<<"$(dpkg-deb --ctrl-tarfile "$deb" | tar -xO ./conffiles)" ||
  fail "station.toml.example is not a conffile"
# cargo-deb's systemd scripts (they need `maintainer-scripts` set): a removal stops the
# unit, an upgrade restarts it if it runs.
grep -q "stop lakenode.service" <<<"$(dpkg-deb --ctrl-tarfile "$deb" | tar -xO ./prerm)" ||
  fail "no prerm stopping lakenode.service"
grep -q "try-restart lakenode.service" <<<"$(dpkg-deb --ctrl-tarfile "$deb" | tar -xO ./postinst)" ||
  fail "no postinst restarting lakenode.service on upgrade"
work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT
dpkg-deb -x "$deb" "$work"
cmp "$work/usr/lib/systemd/system/lakenode.service" packaging/lakenode.service ||
  fail "the packaged unit is not packaging/lakenode.service"
cmp "$work/etc/lakenode/station.toml.example" packaging/station.toml.example ||
  fail "the packaged example is not packaging/station.toml.example"
version="$("$work/usr/bin/lakenode" --version)"
"$work/usr/bin/lakenode" policy --help >/dev/null || fail "the packaged lakenode policy --help failed"
# The packaged unit against the packaged binary.
./scripts/check-service.sh "$work/usr/bin/lakenode"
echo "check-deb.sh: $deb ($(du -k "$deb" | cut -f1) KiB) holds $version, the unit and the example"
