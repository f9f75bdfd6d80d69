#!/usr/bin/env node
// The benchmark: every fedikv store beside Fedify's own store for the same
// backend and the physical limits of its work (the engine's or server's
// ceiling, V8's JSON, a bare SCAN), in one run, on one machine; each fedikv
// figure is also given as a percentage of its limit.
//
//   npm run bench                      all backends, 3 repetitions, 1 s per measurement
//   npm run bench -- --quick           1 repetition, 0.3 s (a smoke run)
//   npm run bench -- --backends SQLite --reps 5 --seconds 2
//   npm run bench -- --skip-rss        without the RSS of 1,000,000 memory entries
//
// Writes benchmark/results/latest.json and latest.md. It is a benchmark,
// not a test: it asserts nothing about speed.
import { randomUUID } from "node:crypto";
import { mkdirSync, writeFileSync } from "node:fs";
import os from "node:os";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { parseArgs } from "node:util";
import { Temporal } from "@js-temporal/polyfill";
import { backends } from "./lib/backends.mjs";
import { serverBackends } from "./lib/servers.mjs";
import { CONCURRENCY, measureWorkload, summarize, summarizeRuns, timeOps, timeWorkloads } from "./lib/measure.mjs";
import { fmt, latencyCell, opsCell } from "./lib/report.mjs";
import { measureRss } from "./lib/rss.mjs";
import { measureBoundary } from "./lib/boundary.mjs";
import { ceilingLimits } from "./lib/limits.mjs";
import { bigTableEntries, bigTableWorkloads, prefillThroughStore, workloads } from "./lib/workloads.mjs";

const { values: args } = parseArgs({
  options: {
    quick: { type: "boolean", default: false },
    // Filling 1,000,000 entries into each memory store takes minutes.
    "skip-rss": { type: "boolean", default: false },
    reps: { type: "string" },
    seconds: { type: "string" },
    backends: { type: "string" },
    out: { type: "string", default: join(dirname(fileURLToPath(import.meta.url)), "results") },
  },
});
const reps = Number(args.reps ?? (args.quick ? 1 : 3));
const durationMs = 1000 * Number(args.seconds ?? (args.quick ? 0.3 : 1));
const log = (...parts) => process.stderr.write(`${parts.join(" ")}\n`);

async function close(kv) {
  if (typeof kv.close === "function") await kv.close();
}

/** One workload on a fresh store of `side`: { [concurrency]: timing } or { skip }. */
const measureOn = (side, workload) => measureWorkload({ open: () => side.open(), close }, workload, durationMs);

/**
 * Runs the workloads that need a table of 100,000 entries on one store;
 * `limits`, when given, is measured on the same table right after the
 * workload it names, and its limits pushed onto `limitRuns`.
 */
async function measureBigTable(side, results, limits, limitRuns) {
  const kv = await side.open();
  try {
    const ns = ["bench", randomUUID()];
    const started = performance.now();
    if (side.prefill) await side.prefill(kv, bigTableEntries(ns));
    else await prefillThroughStore(kv, bigTableEntries(ns), Temporal);
    log(`    ${side.label}: 100,000 entries in ${((performance.now() - started) / 1000).toFixed(1)} s`);
    await timeWorkloads(kv, ns, bigTableWorkloads(Temporal), results, durationMs, async (workload) => {
      if (limits?.after === workload.name) limitRuns.push(await limits.measure({ ns, timeOps, durationMs }));
    });
  } finally {
    await close(kv);
  }
}

const collected = { machine: machine(), started: new Date().toISOString(), reps, durationMs, backends: {} };
const local = backends();
const servers = await serverBackends();
for (const reason of servers.skipped) log(`skipped: ${reason}`);
const list = [...local.list, ...servers.list];
const selected = args.backends ? args.backends.split(",") : list.map((b) => b.name);

try {
  log("▶ the boundary: JSON text against napi's conversion");
  collected.boundary = measureBoundary(durationMs);
  for (const backend of list.filter((b) => selected.includes(b.name))) {
    log(`▶ ${backend.name}`);
    const sides = backend.fedify ? { fedify: backend.fedify, fedikv: backend.fedikv } : { fedikv: backend.fedikv };
    const raw = { fedify: {}, fedikv: {} };
    for (const workload of workloads(Temporal)) {
      for (let rep = 0; rep < reps; rep++) {
        // Alternate the two stores so that drift of the machine hits both.
        for (const [name, side] of Object.entries(sides)) {
          const result = await measureOn(side, workload);
          for (const concurrency of CONCURRENCY) {
            ((raw[name][workload.name] ??= {})[concurrency] ??= []).push(
              result.skip ? { skip: result.skip } : result[concurrency],
            );
          }
        }
      }
      log(`  ${workload.name}`);
    }
    const bigTableLimitRuns = [];
    for (let rep = 0; rep < reps; rep++) {
      for (const [name, side] of Object.entries(sides)) {
        const limits = name === "fedikv" ? backend.bigTableLimits : null;
        await backend.beforeBigTable?.();
        await measureBigTable(side, raw[name], limits, bigTableLimitRuns);
      }
    }
    log("  ceiling and limits");
    const ceiling = backend.ceiling ? await backend.ceiling.measure(timeOps, { durationMs: durationMs * reps }) : null;
    const limits = mergeLimitRuns([
      ...(backend.ceiling ? [ceilingLimits(backend.ceiling.label, ceiling)] : []),
      ...(backend.limits ? [await backend.limits.measure(timeOps, { durationMs: durationMs * reps })] : []),
    ]).concat(mergeLimitRuns(bigTableLimitRuns));
    await backend.cleanup?.();
    const operations = summarizeBackend(raw, ceiling, limits);
    collected.backends[backend.name] = {
      fedify: backend.fedify?.label ?? "(no Fedify store runs here)",
      fedikv: backend.fedikv.label,
      ceiling: backend.ceiling?.label ?? null,
      limits: limits.map((limit) => withPercentages(limit, operations)),
      operations,
    };
  }
  if (selected.includes("memory") && !args["skip-rss"]) {
    log("▶ memory: peak RSS of 1,000,000 entries and of a list over them");
    collected.memoryRss = measureRss();
  }
} finally {
  local.cleanup();
}

/**
 * Limits measured in several runs (or several kinds measured once each),
 * one entry per limit and workload, each rate summarized over the runs.
 */
function mergeLimitRuns(runs) {
  const merged = new Map();
  for (const limit of runs.flat()) {
    const id = `${limit.name}\u0000${limit.of}`;
    const entry = merged.get(id) ?? { ...limit, opsPerSec: {}, rates: {} };
    for (const [concurrency, n] of Object.entries(limit.opsPerSec)) (entry.rates[concurrency] ??= []).push(n);
    merged.set(id, entry);
  }
  return [...merged.values()].map(({ rates, ...limit }) => ({
    ...limit,
    opsPerSec: Object.fromEntries(Object.entries(rates).map(([c, list]) => [c, summarize(list)])),
  }));
}

/** The limit's rate at a concurrency, if it holds there. */
function limitAt(limit, concurrency) {
  return (limit.opsPerSec[concurrency] ?? (limit.anyConcurrency ? limit.opsPerSec[1] : undefined))?.median;
}

/** The limit with fedikv's rate for its workload as a percentage of it, at each concurrency. */
function withPercentages(limit, operations) {
  const percentOfFedikv = {};
  for (const [concurrency, r] of Object.entries(operations[limit.of] ?? {})) {
    const n = limitAt(limit, concurrency);
    if (n && !r.fedikv.skip) percentOfFedikv[concurrency] = (100 * r.fedikv.opsPerSec.median) / n;
  }
  return { ...limit, fedikvPercent: percentOfFedikv };
}

function summarizeBackend(raw, ceiling, limits) {
  const operations = {};
  for (const [op, byConcurrency] of Object.entries(raw.fedikv)) {
    operations[op] = {};
    for (const [concurrency, runs] of Object.entries(byConcurrency)) {
      const fedify = raw.fedify[op] ? summarizeRuns(raw.fedify[op][concurrency]) : { skip: "no Fedify store" };
      const fedikv = summarizeRuns(runs);
      operations[op][concurrency] = {
        fedify,
        fedikv,
        ratio: fedify.skip || fedikv.skip ? null : fedikv.opsPerSec.median / fedify.opsPerSec.median,
        ceiling: ceiling?.[op]?.[concurrency] ? { opsPerSec: ceiling[op][concurrency] } : null,
        limit: bestLimit(limits, op, concurrency, fedikv),
      };
    }
  }
  return operations;
}

/** The highest basis limit of a workload at a concurrency, with fedikv's percentage of it. */
function bestLimit(limits, op, concurrency, fedikv) {
  let best = null;
  for (const limit of limits) {
    const n = limit.of === op && limit.basis ? limitAt(limit, concurrency) : undefined;
    if (n && (!best || n > best.opsPerSec)) best = { name: limit.name, opsPerSec: n };
  }
  if (best && !fedikv.skip) best.percent = (100 * fedikv.opsPerSec.median) / best.opsPerSec;
  return best;
}

function machine() {
  return {
    cpus: `${os.cpus().length} × ${os.cpus()[0]?.model ?? "?"}`,
    memory: `${Math.round(os.totalmem() / 2 ** 30)} GiB`,
    node: process.version,
    platform: `${os.platform()} ${os.release()}`,
  };
}

function markdown(result) {
  const lines = [
    `Machine: ${result.machine.cpus}, ${result.machine.memory}, Node ${result.machine.node}. ` +
      `${result.reps} repetition(s) of ${result.durationMs / 1000} s per measurement; operations per second, median (min–max); ` +
      `latency p50 / p99 in µs at concurrency 1. "limit" is the best of the measured limits of that work (listed below each table, ` +
      `measured in this run); a server tool's limit at "64" is the tool with 64 clients (50 for redis-benchmark).`,
    "",
  ];
  for (const [name, b] of Object.entries(result.backends)) {
    lines.push(`#### ${name}: ${b.fedikv} vs ${b.fedify}${b.ceiling ? ` (ceiling: ${b.ceiling})` : ""}`, "");
    lines.push(
      "| operation | conc. | Fedify ops/s | fedikv ops/s | fedikv ÷ Fedify | Fedify p50 / p99 µs | fedikv p50 / p99 µs | limit ops/s | fedikv % of limit |",
    );
    lines.push("|---|---:|---:|---:|---:|---:|---:|---:|---:|");
    for (const [op, byConcurrency] of Object.entries(b.operations)) {
      for (const [concurrency, r] of Object.entries(byConcurrency)) {
        const lat = (s) => latencyCell(s, concurrency);
        lines.push(
          `| ${op} | ${concurrency} | ${opsCell(r.fedify)} | ${opsCell(r.fedikv)} | ${r.ratio == null ? "" : `**${r.ratio.toFixed(2)}×**`} | ${lat(r.fedify)} | ${lat(r.fedikv)} | ${r.limit ? fmt(r.limit.opsPerSec) : ""} | ${r.limit?.percent == null ? "" : `**${percent(r.limit.percent)}**`} |`,
        );
      }
    }
    lines.push("");
    if (b.limits?.length) lines.push(...limitsMarkdown(name, b.limits));
  }
  if (result.memoryRss) lines.push(...rssMarkdown(result.memoryRss));
  if (result.boundary) lines.push(...boundaryMarkdown(result.boundary));
  return lines.join("\n");
}

const percent = (p) => `${p >= 10 ? Math.round(p) : p.toFixed(1)} %`;

function limitsMarkdown(name, limits) {
  const lines = [
    `${name}'s limits ("any": one thread or one connection does the work, so the limit holds at any concurrency; * marks the limits a percentage is taken against):`,
    "",
    "| limit | of | conc. | ops/s | fedikv % of it at c1 | at c64 |",
    "|---|---|---:|---:|---:|---:|",
  ];
  for (const limit of limits) {
    for (const [concurrency, r] of Object.entries(limit.opsPerSec)) {
      const at = (c) =>
        limit.fedikvPercent[c] == null || (!limit.anyConcurrency && c !== concurrency)
          ? ""
          : percent(limit.fedikvPercent[c]);
      const spread = r.runs > 1 ? ` (${fmt(r.min)}–${fmt(r.max)})` : "";
      lines.push(
        `| ${limit.name}${limit.basis ? " *" : ""}${limit.note ? `; ${limit.note}` : ""} | ${limit.of} | ${limit.anyConcurrency ? "any" : concurrency} | ${fmt(r.median)}${spread} | ${at("1")} | ${at("64")} |`,
      );
    }
  }
  lines.push("");
  return lines;
}

function boundaryMarkdown(boundary) {
  const lines = [
    "#### The boundary: a value into Rust (set) and out (get), calls a second on the JS thread",
    "",
    "| value | bytes | set: JSON.stringify + string | set: napi conversion | get: string + JSON.parse | get: napi conversion |",
    "|---|---:|---:|---:|---:|---:|",
  ];
  for (const [name, r] of Object.entries(boundary)) {
    lines.push(
      `| ${name} | ${r.bytes.toLocaleString("en-US")} | ${fmt(r.set.text)} | ${fmt(r.set.napi)} | ${fmt(r.get.text)} | ${fmt(r.get.napi)} |`,
    );
  }
  lines.push("");
  return lines;
}

function rssMarkdown(rss) {
  const mib = (n) => (n == null ? "?" : `${Math.round(n).toLocaleString("en-US")} MiB`);
  const lines = [
    `#### memory: RSS of ${rss.fedikv.entries.toLocaleString("en-US")} idempotence records (1-day TTL), each store in its own process`,
    "",
    "| store | RSS held | peak while filling | peak growth while listing all | fill s | list s |",
    "|---|---:|---:|---:|---:|---:|",
  ];
  for (const [name, r] of Object.entries(rss)) {
    lines.push(
      `| ${name} | ${mib(r.filledMiB)} | ${mib(r.fillPeakMiB)} | ${mib(Math.max(0, r.listGrowthMiB))} | ${r.fillSeconds.toFixed(1)} | ${r.listSeconds.toFixed(1)} |`,
    );
  }
  lines.push("");
  return lines;
}

mkdirSync(args.out, { recursive: true });
writeFileSync(join(args.out, "latest.json"), `${JSON.stringify(collected, null, 2)}\n`);
const md = markdown(collected);
writeFileSync(join(args.out, "latest.md"), `${md}\n`);
console.log(md);
