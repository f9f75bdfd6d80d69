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
# - a musl runtime for Bun's musl build (see below), in ~/.cache/fedikv/cross/musl;
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

# A musl runtime for the musl addon (__test__/platforms.test.mjs runs Bun's
# musl build on it): Bun's musl build needs musl 1.2.4 or newer, and
# Debian 12's is 1.2.3 (Bun crashes on it), and a libstdc++ built for musl,
# which Debian has not. So: musl 1.2.5 from Debian 13's package, downloaded
# and unpacked into the cache (not installed), and the libstdc++ and
# libgcc_s that pyzmq's musllinux wheel carries (auditwheel puts them there).
musl="$cache/musl"
if [ "$(uname -m)" = x86_64 ] && ! "$musl/lib/ld-musl-x86_64.so.1" --version 2>&1 | grep -q "Version 1\.2\.[4-9]"; then
  rm -rf "$musl" && mkdir -p "$musl/lib"
  work="$(mktemp -d)"
  mkdir -p "$work/sources" "$work/lists/partial" "$work/cache/archives/partial"
  printf 'Types: deb\nURIs: http://deb.debian.org/debian\nSuites: trixie\nComponents: main\nSigned-By: /usr/share/keyrings/debian-archive-keyring.gpg\n' >"$work/sources/trixie.sources"
  apt=(-o Dir::Etc::SourceList=/dev/null -o "Dir::Etc::SourceParts=$work/sources"
    -o "Dir::State::Lists=$work/lists" -o "Dir::Cache=$work/cache" -o APT::Sandbox::User=root)
  apt-get "${apt[@]}" update -qq >&2
  (cd "$work" && apt-get "${apt[@]}" download musl >&2)
  dpkg-deb -x "$work"/musl_*.deb "$work/root"
  cp "$work/root/usr/lib/x86_64-linux-musl/libc.so" "$musl/lib/ld-musl-x86_64.so.1"
  "$venv/bin/pip" download --quiet --no-deps --only-binary=:all: --platform musllinux_1_2_x86_64 \
    --python-version 3.11 pyzmq==27.3.0 -d "$work" >&2
  "$venv/bin/python" - "$work"/pyzmq-*.whl "$musl/lib" <<'PY'
import re, sys, zipfile
wheel, lib = sys.argv[1], sys.argv[2]
for name in zipfile.ZipFile(wheel).namelist():
    base = name.rsplit("/", 1)[-1]
    data = None
    if re.fullmatch(r"libstdc\+\+-\w+\.so\.6[.\d]*", base):
        targets = ["libstdc++.so.6"]
    elif re.fullmatch(r"libgcc_s-\w+\.so\.1", base):
        targets = [base, "libgcc_s.so.1"]  # libstdc++ needs it by the wheel's name
    else:
        continue
    data = zipfile.ZipFile(wheel).read(name)
    for target in targets:
        open(f"{lib}/{target}", "wb").write(data)
PY
  rm -rf "$work"
fi

echo "$venv/bin"
