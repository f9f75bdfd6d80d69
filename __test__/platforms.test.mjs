// The binaries of the other platforms, where they were built here
// (`npm run build:all`; CI builds linux-arm64-gnu and linux-x64-musl), each tested as far as
// this Linux x64 machine can:
// - linux-arm64-gnu: the conformance kit on memory, SQLite, a Deno KV file
//   and Redis, on arm64 Node 22 under qemu-user;
// - linux-x64-musl: the same kit on Bun's musl build (musl 1.2.5 and a
//   musl libstdc++ from scripts/cross-tools.sh), and loaded (dlopen, every
//   symbol bound) into a program linked against musl;
// - every binary: its format, its architecture, the C library it needs
//   (glibc, musl, or macOS's and Windows' own) and the napi registration
//   symbol it exports, read by llvm-readobj and llvm-nm.
// A binary that is not there is a skip naming the command that makes it;
// under CI, those two must be there.
import assert from "node:assert/strict";
import { execFileSync, spawnSync } from "node:child_process";
import { existsSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, describe, test } from "node:test";
import { fileURLToPath } from "node:url";
import { command, ensureRuntime, RUNTIMES } from "../scripts/runtimes.mjs";
import { FIRST_RUN, withoutTestContext } from "./support/runtime.mjs";

const root = fileURLToPath(new URL("..", import.meta.url));
const dir = mkdtempSync(join(tmpdir(), "fedikv-platforms-"));
after(() => rmSync(dir, { recursive: true, force: true }));

const file = (platform) => join(root, `fedikv.${platform}.node`);
const IN_CI = ["linux-arm64-gnu", "linux-x64-musl"];

/** The skip reason when `platform`'s binary is absent (a failure under CI for those CI builds). */
function absent(platform) {
  if (existsSync(file(platform))) return false;
  const reason = `fedikv.${platform}.node is not built; \`npm run build:all\` makes it`;
  if (process.env.CI === "true" && IN_CI.includes(platform)) throw new Error(`${reason}, and CI must have it`);
  return reason;
}

const readobj = (path, ...flags) =>
  execFileSync("llvm-readobj", [...flags, path], { encoding: "utf8", maxBuffer: 64 << 20 });
/** The symbols a binary exports: ELF's dynamic symbols, a Mach-O's external ones, a DLL's export table. */
function exported(platform) {
  const path = file(platform);
  if (platform.startsWith("win32")) return readobj(path, "--coff-exports");
  const flags = platform.startsWith("darwin") ? ["--extern-only"] : ["--dynamic"];
  return execFileSync("llvm-nm", [...flags, "--defined-only", path], { encoding: "utf8", maxBuffer: 64 << 20 });
}

/** What each platform's binary must be. */
const FORMATS = {
  "linux-arm64-gnu": {
    format: /elf64-littleaarch64/,
    arch: /aarch64/,
    libc: /libc\.so\.6/,
    symbol: /\bnapi_register_module_v1\b/,
  },
  "linux-x64-musl": {
    format: /elf64-x86-64/,
    arch: /x86_64/,
    libc: /libc\.musl-x86_64\.so\.1|ld-musl|\blibc\.so\b/,
    glibc: false,
    symbol: /\bnapi_register_module_v1\b/,
  },
  "linux-arm64-musl": {
    format: /elf64-littleaarch64/,
    arch: /aarch64/,
    libc: /libc\.musl-aarch64\.so\.1|ld-musl|\blibc\.so\b/,
    glibc: false,
    symbol: /\bnapi_register_module_v1\b/,
  },
  "darwin-x64": {
    format: /Mach-O 64-bit x86-64/,
    arch: /x86_64/,
    libc: /libSystem/,
    symbol: /\b_napi_register_module_v1\b/,
  },
  "darwin-arm64": {
    format: /Mach-O arm64/,
    arch: /aarch64|arm64/,
    libc: /libSystem/,
    symbol: /\b_napi_register_module_v1\b/,
  },
  "win32-x64-msvc": {
    format: /COFF-x86-64/,
    arch: /x86_64/,
    libc: /KERNEL32\.dll/i,
    symbol: /\bnapi_register_module_v1\b/,
  },
};

describe("each binary: format, architecture, C library, napi registration", () => {
  for (const [platform, want] of Object.entries(FORMATS)) {
    test(platform, { skip: absent(platform) }, () => {
      const header = readobj(file(platform), "--file-headers");
      assert.match(header, new RegExp(`Format: ${want.format.source}`), header);
      assert.match(header, new RegExp(`Arch: ${want.arch.source}`), header);
      const needed = platform.startsWith("darwin")
        ? execFileSync("llvm-objdump", ["--macho", "--dylibs-used", file(platform)], { encoding: "utf8" })
        : readobj(file(platform), platform.startsWith("win32") ? "--coff-imports" : "--needed-libs");
      assert.match(needed, want.libc, needed);
      if (want.glibc === false) assert.doesNotMatch(needed, /libc\.so\.6|GLIBC/, "no glibc");
      assert.match(exported(platform), want.symbol);
    });
  }
});

describe("linux-arm64-gnu: the conformance kit on arm64 Node 22 under qemu-user", {
  skip: FIRST_RUN ? absent("linux-arm64-gnu") : "run once, from the machine's Node",
}, () => {
  test("memory, SQLite (memory and file), a Deno KV file, and Redis", { timeout: 1_800_000 }, () => {
    const binary = ensureRuntime("node22-arm64");
    const run = command(RUNTIMES["node22-arm64"], binary);
    // The file run by itself, not under --test: node:test's child processes
    // would be arm64 executables started without qemu.
    const child = spawnSync(run.file, [...run.args, "--test-reporter=tap", join(root, "__test__", "stores.test.mjs")], {
      cwd: root,
      encoding: "utf8",
      env: { ...withoutTestContext(), FEDIKV_SERVERS: "redis" },
      maxBuffer: 256 << 20,
      timeout: 1_700_000,
    });
    const counts = (name) => Number(child.stdout.match(new RegExp(`^# ${name} (\\d+)$`, "m"))?.[1]);
    assert.equal(child.status, 0, child.stdout.slice(-4000) + child.stderr.slice(-4000));
    assert.equal(counts("fail"), 0);
    for (const store of ["MemoryKvStore", "SqliteKvStore (file)", "DenoKvStore (file)", "RedisKvStore"]) {
      assert.match(
        child.stdout,
        new RegExp(`^ok \\d+ - KvStore conformance: ${store.replace(/[()]/g, "\\$&")}$`, "m"),
        `${store} ran and passed`,
      );
    }
    console.log(`# arm64 under qemu: ${counts("pass")} passed, ${counts("skipped")} skipped`);
  });
});

describe("linux-x64-musl: the conformance kit on Bun's musl build", {
  skip: FIRST_RUN ? absent("linux-x64-musl") : "run once, from the machine's Node",
}, () => {
  test("memory, SQLite (memory and file), a Deno KV file, and Redis", { timeout: 600_000 }, () => {
    const run = command(RUNTIMES["bun-musl"], ensureRuntime("bun-musl"));
    const child = spawnSync(run.file, [...run.args, "test", "--timeout", "600000", "./__test__/stores.test.mjs"], {
      cwd: root,
      encoding: "utf8",
      // The musl addon, whatever this (glibc) machine's ldd says.
      env: {
        ...withoutTestContext(),
        FEDIKV_SERVERS: "redis",
        NAPI_RS_NATIVE_LIBRARY_PATH: file("linux-x64-musl"),
        NO_COLOR: "1",
      },
      maxBuffer: 256 << 20,
      timeout: 590_000,
    });
    const report = child.stdout + child.stderr;
    const counts = (name) => Number(report.match(new RegExp(`^ *(\\d+) ${name}$`, "m"))?.[1]);
    assert.equal(child.status, 0, report.slice(-4000));
    assert.equal(counts("fail"), 0);
    for (const store of ["MemoryKvStore", "SqliteKvStore (file)", "DenoKvStore (file)", "RedisKvStore"]) {
      assert.match(
        report,
        new RegExp(`^\\(pass\\) KvStore conformance: ${store.replace(/[()]/g, "\\$&")} > `, "m"),
        `${store} ran and passed`,
      );
    }
    console.log(`# Bun musl: ${counts("pass")} passed, ${counts("skip")} skipped`);
  });

  test("it is the musl addon that the process maps", () => {
    const run = command(RUNTIMES["bun-musl"], ensureRuntime("bun-musl"));
    const script = `
      const { MemoryKvStore } = require(${JSON.stringify(join(root, "index.js"))});
      new MemoryKvStore();
      const maps = require("node:fs").readFileSync("/proc/self/maps", "utf8");
      console.log(JSON.stringify([...new Set(maps.match(/[^\\s]*fedikv\\.[a-z0-9-]+\\.node/g))]));`;
    const out = execFileSync(run.file, [...run.args, "-e", script], {
      encoding: "utf8",
      env: { ...process.env, NAPI_RS_NATIVE_LIBRARY_PATH: file("linux-x64-musl") },
    });
    assert.deepEqual(JSON.parse(out.trim()), [file("linux-x64-musl")]);
  });
});

/**
 * A program linked against musl that dlopens the addon named by its
 * argument (binding every symbol at once) and says whether it exports the
 * napi registration. The napi functions are the runtime's (Node, Deno and
 * Bun export them): the program defines those the musl addon uses as
 * stubs, so that what dlopen binds beyond them is exactly what the addon
 * needs from the C library.
 */
function muslLoader() {
  const program = join(dir, "load");
  if (existsSync(program)) return program;
  const undefinedSymbols = execFileSync("llvm-nm", ["--dynamic", "--undefined-only", file("linux-x64-musl")], {
    encoding: "utf8",
  });
  const napi = [...undefinedSymbols.matchAll(/\bU ((?:napi|node_api)_\w+)$/gm)].map((m) => m[1]);
  assert.ok(napi.length > 20, `${napi.length} napi functions used`);
  const source = join(dir, "load.c");
  writeFileSync(
    source,
    `
    #include <dlfcn.h>
    #include <stdio.h>
    ${napi.map((name) => `void ${name}(void) {}`).join("\n    ")}
    int main(int argc, char **argv) {
      void *lib = dlopen(argv[1], RTLD_NOW | RTLD_LOCAL);
      if (!lib) { printf("dlopen: %s\\n", dlerror()); return 1; }
      printf("napi_register_module_v1: %s\\n", dlsym(lib, "napi_register_module_v1") ? "found" : "missing");
      return 0;
    }
  `,
  );
  // -rdynamic: the stubs are exported, for the addon to bind to.
  execFileSync("musl-gcc", ["-rdynamic", "-o", program, source]);
  const headers = execFileSync("llvm-readelf", ["--program-headers", program], { encoding: "utf8" });
  assert.match(headers, /program interpreter: \/lib\/ld-musl-x86_64\.so\.1/, "the program is musl's");
  return program;
}

describe("linux-x64-musl: loaded by a musl program", { skip: absent("linux-x64-musl") }, () => {
  test("dlopen binds every symbol against musl's libc, and finds the napi registration", () => {
    const out = spawnSync(muslLoader(), [file("linux-x64-musl")], { encoding: "utf8" });
    assert.equal(out.status, 0, out.stdout + out.stderr);
    assert.equal(out.stdout.trim(), "napi_register_module_v1: found");
  });

  test("the glibc build does not load there (the check can tell)", { skip: absent("linux-x64-gnu") }, () => {
    const out = spawnSync(muslLoader(), [file("linux-x64-gnu")], { encoding: "utf8" });
    assert.notEqual(out.status, 0, out.stdout);
    assert.match(out.stdout, /^dlopen: /);
  });
});
