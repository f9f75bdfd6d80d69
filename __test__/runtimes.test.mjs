// What a user of each runtime meets first: the README's example federation
// runs as written (on Deno with exactly the permissions the README names),
// and an addon that cannot load says which runtime, which file and why,
// never blaming npm; a platform without a binary says which ones have one
// and how to build from source. Runs on every runtime of the matrix.
import assert from "node:assert/strict";
import { execFileSync, spawnSync } from "node:child_process";
import { cpSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, test } from "node:test";
import { fileURLToPath } from "node:url";
import { evalArgs, RUNTIME, RUNTIME_NAME } from "./support/runtime.mjs";

const root = fileURLToPath(new URL("..", import.meta.url));
const dir = mkdtempSync(join(tmpdir(), "fedikv-runtimes-"));
after(() => rmSync(dir, { recursive: true, force: true }));

/** The flags the README's Deno section names: fedikv needs no others. */
const DENO_FLAGS = ["--allow-read", "--allow-env", "--allow-ffi"];

test(`the README's example federation runs as written on ${RUNTIME_NAME}`, { timeout: 120_000 }, () => {
  const example = join(root, "examples", "federation.mjs");
  const args = RUNTIME === "deno" ? ["run", "--no-prompt", ...DENO_FLAGS, example] : [example];
  const db = join(dir, "example.db");
  const out = execFileSync(process.execPath, args, {
    cwd: root,
    encoding: "utf8",
    env: { ...process.env, FEDIFY_DB: db },
  });
  assert.equal(out.trim(), "alice is https://example.com/users/alice; visits: 1");
  // Fedify's state is in the file, in @fedify/sqlite's table.
  assert.match(readFileSync(db, "latin1"), /fedify_kv/);
});

/**
 * A copy of the package's JavaScript in a folder of its own, with
 * `binary` as its addon file and package.json changed by `edit`; resolves
 * to what loading it threw there ({ code, message }), or null if it loaded.
 */
function loadCopy(name, { binary, edit = (pkg) => pkg }) {
  const copy = join(dir, name);
  for (const file of ["index.js", "binding.js", "lib"]) cpSync(join(root, file), join(copy, file), { recursive: true });
  const pkg = JSON.parse(readFileSync(join(root, "package.json"), "utf8"));
  writeFileSync(join(copy, "package.json"), JSON.stringify(edit(pkg)));
  const platform = execFileSync(
    process.execPath,
    evalArgs(`process.stdout.write(require(${JSON.stringify(join(root, "lib", "platforms.js"))}).hostPlatform())`),
    { encoding: "utf8" },
  );
  if (binary !== undefined) writeFileSync(join(copy, `fedikv.${platform}.node`), binary);
  const script = `
    try {
      require(${JSON.stringify(join(copy, "index.js"))});
      console.log("null");
    } catch (error) {
      console.log(JSON.stringify({ code: error.code, message: error.message }));
    }`;
  const child = spawnSync(process.execPath, evalArgs(script), { encoding: "utf8", timeout: 60_000 });
  assert.equal(child.status, 0, child.stderr);
  return { platform, failure: JSON.parse(child.stdout.trim().split("\n").at(-1)) };
}

test("an addon file that does not load: the runtime, the file and its error, and no word of npm", () => {
  const { platform, failure } = loadCopy("broken", { binary: "this is no shared library" });
  assert.equal(failure.code, "ERR_FEDIKV_LOAD");
  assert.ok(failure.message.includes(`could not be loaded on ${RUNTIME_NAME} (${platform})`), failure.message);
  assert.ok(failure.message.includes(`fedikv.${platform}.node`), failure.message);
  assert.match(failure.message, /invalid ELF header|file too short|not a valid|ERR_DLOPEN_FAILED|dlopen/i);
  assert.doesNotMatch(failure.message, /npm has a bug|optional dependencies/);
});

test("a platform without a prebuilt binary: which ones have one, and how to build from source", () => {
  const { platform, failure } = loadCopy("unsupported", {
    edit: (pkg) => ({ ...pkg, napi: { ...pkg.napi, targets: ["x86_64-apple-darwin", "aarch64-unknown-linux-musl"] } }),
  });
  assert.equal(failure.code, "ERR_FEDIKV_LOAD");
  assert.ok(failure.message.includes(`no prebuilt binary for ${platform}`), failure.message);
  assert.ok(failure.message.includes("Prebuilt binaries: darwin-x64, linux-arm64-musl."), failure.message);
  assert.match(failure.message, /npm run build/);
  assert.doesNotMatch(failure.message, /npm has a bug/);
});
