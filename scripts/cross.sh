#!/usr/bin/env bash
# Raspberry Pi builds: the CLI for aarch64 (Pi 3/4/5, 64-bit OS) and armv7 (32-bit
# Raspberry Pi OS) with Debian's cross compilers, and the core's unit tests for aarch64
# under qemu-user (linkers and runners: .cargo/config.toml). CI runs it (.ci/run).
# Needs: gcc-aarch64-linux-gnu gcc-arm-linux-gnueabihf libc6-dev-arm64-cross
# libc6-dev-armhf-cross qemu-user, and the two rustup targets.
set -euo pipefail
cd "$(dirname "$0")/.."
export CC_aarch64_unknown_linux_gnu=aarch64-linux-gnu-gcc
export CC_armv7_unknown_linux_gnueabihf=arm-linux-gnueabihf-gcc
for target in aarch64-unknown-linux-gnu armv7-unknown-linux-gnueabihf; do
  echo "== lakenode for $target"
  cargo build -p lakenode-cli --target "$target"
  file "target/$target/debug/lakenode"
done
echo "== the core's unit tests on aarch64, under qemu-user"
cargo test -p lakenode --lib --target aarch64-unknown-linux-gnu
