#!/usr/bin/env node
// The `fedikv` command: look into a key–value store (ls, get, set, rm,
// stats) and move one to another backend (migrate). Every store is named by
// a URL (see openKvStore). Errors are one line on stderr and exit status 1
// (2 for a wrong command line).
import { once } from "node:events";
import { createInterface } from "node:readline/promises";
import { parseArgs } from "node:util";
import fedikv from "../index.js";

const { openKvStore, listWithExpiry, migrate } = fedikv;

const URLS = `URLs:
  sqlite:./fedify.db (or a bare path)     postgres://user@host/db
  redis://host:6379, rediss://…           mysql://user@host/db, mariadb://…
  redis://h1:7000,h2:7001 (a Cluster)     denokv:./kv.sqlite3, https://… (KV Connect;
                                            token from DENO_KV_ACCESS_TOKEN)
  workers-kv://ACCOUNT_ID/NAMESPACE_ID (Cloudflare Workers KV; token from
                                            CLOUDFLARE_API_TOKEN)
  The query may name the table or key prefix: ?tableName=fedify_kv (SQL stores),
  ?keyPrefix=fedify:: (Redis).`;

const KEY_HELP = `Key parts are given one per argument (put -- before a part that starts
with -), or as one JSON array with --key '["_fedify","publicKey"]'.`;

const COMMANDS = {
  ls: {
    summary: "list entries under a key prefix, with their remaining TTL",
    usage: "fedikv ls URL [part…] [--json] [--limit N]",
    options: {
      json: { type: "boolean", help: "one JSON object per line: key, value, ttlMs, expiresAt (null: no TTL)" },
      limit: { type: "string", help: "stop after N entries" },
      key: { type: "string", help: "the prefix as a JSON array" },
    },
    details: `Streams: entries are printed as they are read, page by page, so a store
of any size can be listed. TTL is the time left ("-" for none). Values are
shortened to fit the line; --json prints them whole.`,
    run: ls,
  },
  get: {
    summary: "print the value of one key as JSON",
    usage: "fedikv get URL part… [--key JSON]",
    options: { key: { type: "string", help: "the key as a JSON array" } },
    details: "Exits with status 1 when the key has no live value.",
    run: get,
  },
  set: {
    summary: "store a value under a key",
    usage: "fedikv set URL part… --value JSON [--ttl DURATION]",
    options: {
      value: { type: "string", help: "the value, as JSON text (a string is '\"text\"')" },
      ttl: { type: "string", help: "how long it lives: 500ms, 90s, 5m, 1h30m, 2d, 1w" },
      key: { type: "string", help: "the key as a JSON array" },
    },
    run: set,
  },
  rm: {
    summary: "delete a key, or every entry under a prefix",
    usage: "fedikv rm URL part… [--prefix] [--yes]",
    options: {
      prefix: { type: "boolean", help: "delete every entry whose key starts with the parts (no parts: all)" },
      yes: { type: "boolean", short: "y", help: "do not ask for a confirmation" },
      key: { type: "string", help: "the key as a JSON array" },
    },
    details: "Asks before deleting unless --yes; without a terminal to ask on, --yes is required.",
    run: rm,
  },
  stats: {
    summary: "entries and bytes grouped by first key parts, expiring vs permanent",
    usage: "fedikv stats URL [part…] [--depth N] [--json]",
    options: {
      depth: { type: "string", help: "how many first key parts make a group (default 2)" },
      json: { type: "boolean", help: "the groups as JSON" },
      key: { type: "string", help: "only entries under this prefix, a JSON array" },
    },
    details: `Bytes are those of the JSON text of the key and the value. Reads every
entry under the prefix once.`,
    run: stats,
  },
  migrate: {
    summary: "copy every live entry, with its remaining TTL, to another store",
    usage: "fedikv migrate FROM_URL TO_URL [--prefix part…] [--dry-run] [--merge] [--batch N]",
    options: {
      prefix: { type: "boolean", help: "copy only entries under the parts that follow FROM_URL TO_URL" },
      "dry-run": { type: "boolean", help: "read and count, write nothing" },
      merge: { type: "boolean", help: "write into a target that already holds entries" },
      batch: { type: "string", help: "entries written at once (default 500)" },
    },
    details: `Entries that expired are not copied; each copy expires when the original
does. Refuses a target that already holds entries (under the prefix)
unless --merge: then entries of the source replace those with the same key,
and values already equal are left alone, so running it again is safe.
Ends by counting the entries of both; a mismatch is exit status 1.
A progress bar with rate and ETA is drawn on a terminal, plain lines
otherwise. Ctrl-C stops after the batch in flight.
The source and the target may be any URL but memory:, which lives in one
process: from an app's MemoryKvStore, call migrate() from fedikv in the app.`,
    run: migrateCommand,
  },
};

class UsageError extends Error {}

function mainHelp() {
  const width = Math.max(...Object.keys(COMMANDS).map((c) => c.length));
  const lines = Object.entries(COMMANDS).map(([name, c]) => `  ${name.padEnd(width)}  ${c.summary}`);
  return `Usage: fedikv <command> URL … [options]

Look into a Fedify key–value store, and move it to another backend.

Commands:
${lines.join("\n")}

${URLS}

Run \`fedikv <command> --help\` for the options of a command.
`;
}

function commandHelp(name) {
  const c = COMMANDS[name];
  const opts = Object.entries(c.options).map(([o, spec]) => {
    const flag = `${spec.short ? `-${spec.short}, ` : ""}--${o}${spec.type === "string" ? " …" : ""}`;
    return `  ${flag.padEnd(16)}  ${spec.help}`;
  });
  opts.push(`  ${"-h, --help".padEnd(16)}  this help`);
  return `Usage: ${c.usage}

${c.summary[0].toUpperCase()}${c.summary.slice(1)}.
${c.details ? `\n${c.details}\n` : ""}
Options:
${opts.join("\n")}

${KEY_HELP}

${URLS}
`;
}

// --- output -------------------------------------------------------------------

process.stdout.on("error", (error) => {
  // `fedikv ls … | head`: the reader left; that is no failure.
  if (error.code === "EPIPE") process.exit(process.exitCode ?? 0);
  throw error;
});

/** Writes a line, waiting while stdout's buffer is full (a slow pipe). */
async function out(line) {
  if (!process.stdout.write(`${line}\n`)) await once(process.stdout, "drain");
}

const number = (n) => n.toLocaleString("en-US");

/** Milliseconds as a short duration: 850ms, 4.2s, 59s, 5m, 4m 59s, 2h 5m, 3d 4h. */
function duration(ms) {
  if (ms < 1000) return `${Math.max(0, Math.round(ms))}ms`;
  const s = ms / 1000;
  if (s < 10) return `${s.toFixed(1)}s`;
  if (s < 60) return `${Math.floor(s)}s`;
  const parts = [
    [Math.floor(s / 86400), "d"],
    [Math.floor(s / 3600) % 24, "h"],
    [Math.floor(s / 60) % 60, "m"],
    [Math.floor(s) % 60, "s"],
  ];
  const first = parts.findIndex(([n]) => n > 0);
  const [big, small] = parts.slice(first, first + 2);
  return small[0] > 0 ? `${big[0]}${big[1]} ${small[0]}${small[1]}` : `${big[0]}${big[1]}`;
}

const DURATION_UNITS = { ms: 1, s: 1e3, m: 6e4, h: 36e5, d: 864e5, w: 6048e5 };

/** `1h30m`, `90s`, `500ms`, `2d`, `1.5h` → milliseconds. */
function parseDuration(text) {
  const re = /(\d+(?:\.\d+)?)(ms|s|m|h|d|w)/gy;
  let ms = 0;
  let end = 0;
  // Sticky: each match starts where the last ended, so `end` tells whether
  // the units cover the whole text.
  for (const match of text.matchAll(re)) {
    ms += Number(match[1]) * DURATION_UNITS[match[2]];
    end = match.index + match[0].length;
  }
  if (text === "" || end !== text.length) {
    throw new UsageError(
      `--ttl ${JSON.stringify(text)} is not a duration: use a number and a unit (ms, s, m, h, d, w), e.g. 90s, 5m, 1h30m`,
    );
  }
  return ms;
}

function shorten(text, width) {
  return text.length <= width ? text : `${text.slice(0, Math.max(1, width - 1))}…`;
}

// --- arguments ----------------------------------------------------------------

function parse(name, argv) {
  const c = COMMANDS[name];
  const options = { help: { type: "boolean", short: "h" } };
  for (const [o, spec] of Object.entries(c.options)) {
    options[o] = { type: spec.type, ...(spec.short ? { short: spec.short } : {}) };
  }
  try {
    return parseArgs({ args: argv, options, allowPositionals: true, strict: true });
  } catch (error) {
    throw new UsageError(error.message.split("\n")[0]);
  }
}

/** The key (or prefix) from the parts or from --key. */
function keyOf(values, parts, { allowEmpty }) {
  let key = parts;
  if (values.key !== undefined) {
    if (parts.length > 0) throw new UsageError("give the key either as parts or with --key, not both");
    try {
      key = JSON.parse(values.key);
    } catch {
      throw new UsageError(`--key must be a JSON array of strings, not ${values.key}`);
    }
    if (!Array.isArray(key) || key.some((p) => typeof p !== "string")) {
      throw new UsageError("--key must be a JSON array of strings");
    }
  }
  if (!allowEmpty && key.length === 0) throw new UsageError("which key? give at least one key part");
  return key;
}

function positiveInteger(text, flag) {
  const n = Number(text);
  if (!Number.isInteger(n) || n < 1) throw new UsageError(`${flag} needs a whole number of at least 1, not ${text}`);
  return n;
}

const MEMORY_NOTE =
  "memory: is a store inside one process, and this command runs in a process of its own, " +
  "where it would be empty: to look into or move an app's MemoryKvStore, use listWithExpiry() " +
  "or migrate() from fedikv inside the app";

/** Opens the store of a URL argument; closed by `main` at the end. */
const opened = [];
function open(url) {
  if (url === undefined) throw new UsageError("a store URL is missing");
  if (/^memory:/i.test(url.trim())) throw new UsageError(MEMORY_NOTE);
  let store;
  try {
    store = openKvStore(url);
  } catch (error) {
    // A URL that names no store is a mistake on the command line.
    if (error.code === "ERR_FEDIKV_INVALID_OPTION") throw new UsageError(error.message);
    throw error;
  }
  opened.push(store);
  return store;
}

/** `[store, key parts]` of `URL part…`. */
function target(positionals) {
  const [url, ...parts] = positionals;
  return [open(url), parts];
}

// --- commands -----------------------------------------------------------------

/**
 * Entries with their expiry; through KV Connect, which cannot tell expiry,
 * entries with `expiresAt` undefined (shown as unknown) after a note.
 */
async function* entriesOf(store, prefix) {
  const withExpiry = listWithExpiry(store, prefix);
  let first;
  try {
    first = await withExpiry.next();
  } catch (error) {
    if (error.code !== "ERR_FEDIKV_UNSUPPORTED") throw error;
    process.stderr.write(`fedikv: note: ${clean(error.message)}; TTLs are shown as unknown (?)\n`);
    for await (const { key, value } of store.list(prefix)) yield { key, value, expiresAt: undefined };
    return;
  }
  if (first.done) return;
  yield first.value;
  yield* withExpiry;
}

function ttlText(expiresAt, now) {
  if (expiresAt === undefined) return "?";
  return expiresAt === null ? "-" : duration(expiresAt - now);
}

async function ls(values, positionals) {
  const [store, parts] = target(positionals);
  const prefix = keyOf(values, parts, { allowEmpty: true });
  const limit = values.limit === undefined ? Infinity : positiveInteger(values.limit, "--limit");
  const columns = process.stdout.isTTY ? process.stdout.columns || 120 : 160;
  let shown = 0;
  let keyWidth = null;
  for await (const { key, value, expiresAt } of entriesOf(store, prefix)) {
    if (shown >= limit) break;
    const now = Date.now();
    if (values.json) {
      const row = { key, value };
      // Both left out where the store cannot tell (KV Connect).
      if (expiresAt !== undefined) {
        row.ttlMs = expiresAt === null ? null : Math.max(0, expiresAt - now);
        row.expiresAt = expiresAt === null ? null : new Date(expiresAt).toISOString();
      }
      await out(JSON.stringify(row));
    } else {
      const keyText = JSON.stringify(key);
      if (keyWidth === null) {
        // Set by the first entry (the listing streams): later keys that are
        // longer push their row's value to the right.
        keyWidth = Math.min(Math.max(keyText.length, 3), 60);
        await out(`${"KEY".padEnd(keyWidth)}  ${"TTL".padEnd(8)}  VALUE`);
      }
      const left = `${keyText.padEnd(keyWidth)}  ${ttlText(expiresAt, now).padEnd(8)}  `;
      await out(left + shorten(JSON.stringify(value), Math.max(20, columns - left.length)));
    }
    shown++;
  }
  if (!values.json) {
    await out(`${number(shown)} ${shown === 1 ? "entry" : "entries"}${shown >= limit ? " (--limit reached)" : ""}`);
  }
}

async function get(values, positionals) {
  const [store, parts] = target(positionals);
  const key = keyOf(values, parts, { allowEmpty: false });
  const value = await store.get(key);
  if (value === undefined) throw new Error(`no live entry under ${JSON.stringify(key)}`);
  await out(JSON.stringify(value, null, 2));
}

async function set(values, positionals) {
  const [store, parts] = target(positionals);
  const key = keyOf(values, parts, { allowEmpty: false });
  if (values.value === undefined)
    throw new UsageError("--value is missing: the value as JSON, e.g. --value '{\"a\":1}' or --value '\"text\"'");
  let value;
  try {
    value = JSON.parse(values.value);
  } catch (error) {
    throw new UsageError(`--value is not JSON (${error.message}); a string needs its quotes: --value '"text"'`);
  }
  const ttl = values.ttl === undefined ? undefined : parseDuration(values.ttl);
  await store.set(key, value, ttl === undefined ? undefined : { ttl: { milliseconds: ttl } });
  await out(`set ${JSON.stringify(key)}${ttl === undefined ? "" : ` (expires in ${duration(ttl)})`}`);
}

async function confirm(question, values) {
  if (values.yes) return true;
  if (!process.stdin.isTTY) {
    throw new UsageError("stdin is not a terminal to confirm on: pass --yes to delete without asking");
  }
  const rl = createInterface({ input: process.stdin, output: process.stderr });
  try {
    return /^y(es)?$/i.test((await rl.question(`${question} [y/N] `)).trim());
  } finally {
    rl.close();
  }
}

async function rm(values, positionals) {
  const [store, parts] = target(positionals);
  const key = keyOf(values, parts, { allowEmpty: values.prefix === true });
  if (!values.prefix) {
    if ((await store.get(key)) === undefined) {
      await out(`no live entry under ${JSON.stringify(key)}: nothing deleted`);
      return;
    }
    if (!(await confirm(`Delete ${JSON.stringify(key)}?`, values))) {
      await out("nothing deleted");
      return;
    }
    await store.delete(key);
    await out(`deleted ${JSON.stringify(key)}`);
    return;
  }
  let total = 0;
  for await (const _ of store.list(key)) total++;
  const under = key.length === 0 ? "in the store (all of them)" : `under ${JSON.stringify(key)}`;
  if (total === 0) {
    await out(`no entries ${under}: nothing deleted`);
    return;
  }
  if (!(await confirm(`Delete ${number(total)} ${total === 1 ? "entry" : "entries"} ${under}?`, values))) {
    await out("nothing deleted");
    return;
  }
  // Keys are gathered a batch at a time, then deleted, and the listing
  // starts over: deleting never races the listing's own pages.
  let deleted = 0;
  for (;;) {
    const batch = [];
    for await (const entry of store.list(key)) {
      batch.push(entry.key);
      if (batch.length === 500) break;
    }
    if (batch.length === 0) break;
    await Promise.all(batch.map((k) => store.delete(k)));
    deleted += batch.length;
  }
  await out(`deleted ${number(deleted)} ${deleted === 1 ? "entry" : "entries"} ${under}`);
}

async function stats(values, positionals) {
  const [store, parts] = target(positionals);
  const prefix = keyOf(values, parts, { allowEmpty: true });
  const depth = values.depth === undefined ? 2 : positiveInteger(values.depth, "--depth");
  const groups = new Map();
  const total = { entries: 0, bytes: 0, expiring: 0, permanent: 0, unknown: 0 };
  for await (const { key, value, expiresAt } of entriesOf(store, prefix)) {
    const name = JSON.stringify(key.slice(0, depth));
    let group = groups.get(name);
    if (group === undefined) {
      group = { group: key.slice(0, depth), entries: 0, bytes: 0, expiring: 0, permanent: 0, unknown: 0 };
      groups.set(name, group);
    }
    const bytes = Buffer.byteLength(JSON.stringify(key)) + Buffer.byteLength(JSON.stringify(value));
    const kind = expiresAt === undefined ? "unknown" : expiresAt === null ? "permanent" : "expiring";
    for (const g of [group, total]) {
      g.entries++;
      g.bytes += bytes;
      g[kind]++;
    }
  }
  const sorted = [...groups.entries()].sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)).map(([, g]) => g);
  if (values.json) {
    await out(JSON.stringify({ depth, groups: sorted, total }, null, 2));
    return;
  }
  const rows = sorted.map((g) => [JSON.stringify(g.group), g]);
  rows.push(["total", total]);
  const width = Math.max(5, ...rows.map(([name]) => name.length));
  const unknown = total.unknown > 0;
  const cells = (name, g) =>
    [
      name.padEnd(width),
      ...[g.entries, g.bytes, g.expiring, g.permanent, ...(unknown ? [g.unknown] : [])].map((n, i) =>
        (typeof n === "number" ? number(n) : n).padStart(i === 1 ? 12 : 10),
      ),
    ].join("  ");
  await out(
    cells("GROUP", {
      entries: "ENTRIES",
      bytes: "BYTES",
      expiring: "EXPIRING",
      permanent: "PERMANENT",
      unknown: "TTL ?",
    }),
  );
  for (const [name, g] of rows) await out(cells(name, g));
}

/** Progress on stderr: a bar redrawn in place on a terminal, else lines. */
function progressReporter() {
  const tty = process.stderr.isTTY;
  let lastDraw = 0;
  let lastPercent = -1;
  const render = (p) => {
    const seconds = p.elapsedMs / 1000;
    const rate = seconds > 0 ? p.done / seconds : 0;
    const fraction = p.total ? Math.min(1, p.done / p.total) : 1;
    const eta =
      !p.total || rate === 0 ? "-" : p.done >= p.total ? "0s" : duration(Math.ceil((p.total - p.done) / rate) * 1000);
    return {
      fraction,
      text: `${number(p.done)}/${number(p.total ?? p.done)}  ${number(Math.round(rate))}/s  ETA ${eta}`,
    };
  };
  return {
    update(p) {
      const now = Date.now();
      const { fraction, text } = render(p);
      if (tty) {
        if (now - lastDraw < 100 && p.done !== p.total) return;
        lastDraw = now;
        const width = 30;
        const filled = Math.round(fraction * width);
        process.stderr.write(
          `\r[${"#".repeat(filled)}${".".repeat(width - filled)}] ${String(Math.floor(fraction * 100)).padStart(3)}%  ${text}\x1b[K`,
        );
      } else {
        // A line per 10 % (and at the end), so a log stays short.
        const percent = Math.floor(fraction * 10) * 10;
        if (percent === lastPercent) return;
        lastPercent = percent;
        process.stderr.write(`progress: ${percent}%  ${text}\n`);
      }
    },
    done() {
      if (tty && lastDraw > 0) process.stderr.write("\n");
    },
  };
}

async function migrateCommand(values, positionals) {
  const [fromUrl, toUrl, ...parts] = positionals;
  if (toUrl === undefined) throw new UsageError("migrate needs FROM_URL and TO_URL");
  if (parts.length > 0 && !values.prefix) {
    throw new UsageError(`what is ${JSON.stringify(parts[0])}? key parts after the URLs need --prefix`);
  }
  const batchSize = values.batch === undefined ? undefined : positiveInteger(values.batch, "--batch");
  if (fromUrl.trim() === toUrl.trim()) throw new UsageError("FROM_URL and TO_URL are the same store");
  const source = open(fromUrl);
  const targetStore = open(toUrl);
  const dryRun = values["dry-run"] === true;
  const progress = progressReporter();
  const abort = new AbortController();
  const onSigint = () => {
    if (abort.signal.aborted) process.exit(130);
    process.stderr.write("\nstopping after the batch in flight (Ctrl-C again to quit at once)…\n");
    abort.abort(
      new Error("interrupted: entries copied so far stay in the target; run the same command with --merge to finish"),
    );
  };
  process.on("SIGINT", onSigint);
  const started = Date.now();
  let result;
  try {
    result = await migrate(source, targetStore, {
      prefix: parts,
      merge: values.merge === true,
      dryRun,
      batchSize,
      signal: abort.signal,
      onProgress: (p) => progress.update(p),
    });
  } finally {
    progress.done();
    process.off("SIGINT", onSigint);
  }
  const verb = dryRun ? "would copy" : "copied";
  await out(
    `${verb} ${number(result.copied)} ${result.copied === 1 ? "entry" : "entries"} (${number(result.withTtl)} with a TTL)` +
      `, ${number(result.unchanged)} already equal in the target` +
      (result.expired > 0 ? `, ${number(result.expired)} expired on the way (not copied)` : "") +
      ` in ${duration(Date.now() - started)}`,
  );
  if (dryRun) {
    await out("dry run: nothing was written");
    return;
  }
  const check = `source ${number(result.sourceCount)}, target ${number(result.targetCount)}`;
  if (!result.ok) {
    throw new Error(
      `count check failed: ${check} live entries${parts.length > 0 ? " under the prefix" : ""} ` +
        "(were entries written or expiring during the migration? run it again with --merge)",
    );
  }
  await out(`check: ${check} live entries${parts.length > 0 ? " under the prefix" : ""}: ok`);
}

// --- main ---------------------------------------------------------------------

/** An error as one line, without the "fedikv: " that store errors start with. */
function clean(message) {
  return String(message)
    .replace(/^(fedikv: )+/, "")
    .replace(/\s*\n\s*/g, " ");
}

async function main(argv) {
  const [name, ...rest] = argv;
  if (name === undefined || name === "-h" || name === "--help" || name === "help") {
    const topic = name === "help" ? rest[0] : undefined;
    if (topic !== undefined && COMMANDS[topic] === undefined)
      throw new UsageError(`no command ${JSON.stringify(topic)}`);
    process.stdout.write(topic ? commandHelp(topic) : mainHelp());
    if (name === undefined) process.exitCode = 2;
    return;
  }
  if (name === "-v" || name === "--version") {
    const { createRequire } = await import("node:module");
    await out(createRequire(import.meta.url)("../package.json").version);
    return;
  }
  const command = COMMANDS[name];
  if (command === undefined)
    throw new UsageError(`no command ${JSON.stringify(name)}: try ${Object.keys(COMMANDS).join(", ")}`);
  const { values, positionals } = parse(name, rest);
  if (values.help) {
    process.stdout.write(commandHelp(name));
    return;
  }
  await command.run(values, positionals);
}

try {
  await main(process.argv.slice(2));
} catch (error) {
  const usage = error instanceof UsageError;
  const name = COMMANDS[process.argv[2]] ? process.argv[2] : null;
  const command = name ? ` ${name}` : "";
  // migrate()'s messages name it already.
  const message = clean(error?.message ?? error).replace(name ? new RegExp(`^${name}: `) : /^$/, "");
  process.stderr.write(`fedikv${command}: ${message}${usage ? ` (see fedikv${command} --help)` : ""}\n`);
  process.exitCode = usage ? 2 : 1;
} finally {
  await Promise.allSettled(opened.map((store) => store.close()));
}
