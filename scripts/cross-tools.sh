#!/usr/bin/env bash
# What cross-compiling and testing the other platforms needs on this
# machine (Debian, x86_64), installed once and cached; each step is
# skipped when its result is already there.
#
#   bash scripts/cross-tools.sh        prints the PATH entries to use
#
# - the Rust standard library of each target (rustup target add);
# - zig and cargo-zigbuild from PyPI, in a venv in
#   ~/.cache/fedikv/cross/venv ($XDG_CACHE_HOME instead of ~/.cache);
#   napi's CLI drives them with --cross-compile (-x);
# - from Debian: qemu-user-static with the arm64 C and C++ runtimes (to run
#   arm64 Node under qemu), musl and musl-tools (its loader and musl-gcc,
#   for a program that loads the musl addon), and llvm (llvm-readobj and
#   llvm-nm read the binaries of every format).
set -euo pipefail

ZIG_VERSION=0.17.0
ZIGBUILD_VERSION=0.24.0
TARGETS=(
  aarch64-unknown-linux-gnu
  x86_64-unknown-linux-musl
  aarch64-unknown-linux-musl
  x86_64-apple-darwin
  aarch64-apple-darwin
  x86_64-pc-windows-msvc
)

cache="${XDG_CACHE_HOME:-$HOME/.cache}/fedikv/cross"
venv="$cache/venv"
mkdir -p "$cache"

installed="$(rustup target list --installed)"
for target in "${TARGETS[@]}"; do
  grep -qx "$target" <<<"$installed" || rustup target add "$target" >&2
done

if ! "$venv/bin/cargo-zigbuild" --version >/dev/null 2>&1 \
  || ! "$venv/bin/python" -m ziglang version 2>/dev/null | grep -qx "$ZIG_VERSION"; then
  rm -rf "$venv"
  python3 -m venv "$venv" >&2
  "$venv/bin/pip" install --quiet "ziglang==$ZIG_VERSION" "cargo-zigbuild==$ZIGBUILD_VERSION" >&2
fi
# cargo-zigbuild runs `zig`; the ziglang package has it as a module.
if [ ! -x "$venv/bin/zig" ]; then
  printf '#!/bin/sh\nexec "%s" -m ziglang "$@"\n' "$venv/bin/python" >"$venv/bin/zig"
  chmod +x "$venv/bin/zig"
fi

missing=()
command -v qemu-aarch64-static >/dev/null || missing+=(qemu-user-static)
[ -e /usr/aarch64-linux-gnu/lib/ld-linux-aarch64.so.1 ] || missing+=(libc6-arm64-cross)
[ -e /usr/aarch64-linux-gnu/lib/libstdc++.so.6 ] || missing+=(libstdc++6-arm64-cross)
[ -e /lib/ld-musl-x86_64.so.1 ] || missing+=(musl)
command -v musl-gcc >/dev/null || missing+=(musl-tools)
command -v llvm-readobj >/dev/null || missing+=(llvm)
if [ "${#missing[@]}" -gt 0 ]; then
  if [ "$(id -u)" -ne 0 ]; then
    echo "scripts/cross-tools.sh: install ${missing[*]} (Debian packages) as root" >&2
    exit 1
  fi
  apt-get update -qq >&2
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${missing[@]}" >&2
fi

echo "$venv/bin"
