// The `fedikv` command as a user runs it: the real bin in a child process,
// on the runtime the test runs on.
import { spawn } from "node:child_process";
import { fileURLToPath } from "node:url";
import { scriptArgs } from "./runtime.mjs";

/** The command's script. */
export const bin = fileURLToPath(new URL("../../bin/fedikv.mjs", import.meta.url));

/**
 * Runs `fedikv …args`; stdin is a pipe (no terminal), closed after
 * `input`. Resolves to `{ code, stdout, stderr }`.
 */
export function fedikvCli(args, { input = "", env = {} } = {}) {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, scriptArgs(bin, ...args), {
      stdio: ["pipe", "pipe", "pipe"],
      env: { ...process.env, ...env },
    });
    let stdout = "";
    let stderr = "";
    child.stdout.setEncoding("utf8").on("data", (d) => (stdout += d));
    child.stderr.setEncoding("utf8").on("data", (d) => (stderr += d));
    child.on("error", reject);
    child.on("close", (code) => resolve({ code, stdout, stderr }));
    child.stdin.end(input);
  });
}
