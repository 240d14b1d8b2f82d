#!/usr/bin/env bash
# The Debian package: scripts/package-deb.sh [TARGET] builds
# target/debian/lakenode_<version>_<arch>.deb (under $CARGO_TARGET_DIR if set) with
# cargo-deb, from `[package.metadata.deb]` in crates/lakenode-cli/Cargo.toml:
# /usr/bin/lakenode, the systemd unit packaging/lakenode.service and
# /etc/lakenode/station.toml.example.
#
#   TARGET (default: the host, amd64 here)  Debian arch
#   aarch64-unknown-linux-gnu               arm64  (Raspberry Pi 3/4/5, 64-bit OS)
#   armv7-unknown-linux-gnueabihf           armhf  (32-bit Raspberry Pi OS)
#
# Needs cargo-deb: `cargo install cargo-deb --locked` (CI installs it if missing). The
# cross builds use what scripts/cross.sh uses: Debian's cross gcc as linker
# (.cargo/config.toml), `apt install gcc-aarch64-linux-gnu libc6-dev-arm64-cross` or
# `gcc-arm-linux-gnueabihf libc6-dev-armhf-cross` (their binutils strip the binary),
# and `rustup target add TARGET`.
set -euo pipefail
cd "$(dirname "$0")/.."
command -v cargo-deb >/dev/null || {
  echo "package-deb.sh: cargo-deb is missing: cargo install cargo-deb --locked" >&2
  exit 1
}
target_dir="$(cargo metadata --format-version 1 --no-deps |
  python3 -c 'import json, sys; print(json.load(sys.stdin)["target_directory"])')"
out="$target_dir/debian"
mkdir -p "$out"
# --strip: the release profile keeps line tables (debug = "line-tables-only"), which
# cargo-deb would otherwise package (on amd64 an 86 MB binary instead of 15 MB).
args=(-p lakenode-cli --output "$out" --strip)
strip=()
case "${1:-}" in
  "") ;;
  aarch64-unknown-linux-gnu)
    export CC_aarch64_unknown_linux_gnu=aarch64-linux-gnu-gcc
    args+=(--target aarch64-unknown-linux-gnu)
    strip=("STRIP_aarch64-unknown-linux-gnu=aarch64-linux-gnu-strip") ;;
  armv7-unknown-linux-gnueabihf)
    export CC_armv7_unknown_linux_gnueabihf=arm-linux-gnueabihf-gcc
    args+=(--target armv7-unknown-linux-gnueabihf)
    strip=("STRIP_armv7-unknown-linux-gnueabihf=arm-linux-gnueabihf-strip") ;;
  *)
    echo "package-deb.sh: unknown target $1 (aarch64-unknown-linux-gnu, armv7-unknown-linux-gnueabihf or none for the host)" >&2
    exit 2 ;;
esac
# cargo-deb prints the path of the .deb it wrote. The cross binutils' strip, by the
# variable cargo-deb reads (its name has dashes, hence env).
env "${strip[@]}" cargo deb "${args[@]}"
