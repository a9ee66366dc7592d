/**
 * Runs every bench of our performance targets (design: Performance targets) in turn, prints each table, and rewrites docs/benchmarks.md with all
 * of them, the command, the date and the machine. Needs root (loop devices, mounts); each bench
 * makes its own scratch pools and removes them, also when it fails.
 *
 *   npm run build && npm run bench              # everything, rewrites docs/benchmarks.md
 *   node dist/bench/run-all.js stage memory     # only these, printed, docs left alone
 */
import { writeFile } from 'node:fs/promises';
import { fileURLToPath } from 'node:url';
import { createVolumeBench } from './create-volume-bench.js';
import { groupSnapshotBench } from './group-snapshot-bench.js';
import { ioBench } from './io-bench.js';
import { CALIBRATION_REFERENCE, cpuCalibrationMs, describeMachine } from './lib/machine.js';
import { renderSection, type Section } from './lib/report.js';
import { cleanUpOnSignals } from './lib/scope.js';
import { memoryBench } from './memory-bench.js';
import { metadataBench } from './metadata-bench.js';
import { snapshotBench } from './snapshot-bench.js';
import { stageBench } from './stage-bench.js';

const BENCHES: Record<string, () => Promise<Section | Section[]>> = {
  snapshot: snapshotBench,
  group: groupSnapshotBench,
  create: createVolumeBench,
  stage: stageBench,
  io: ioBench,
  memory: memoryBench,
  metadata: metadataBench,
};

const COMMAND = 'npm run build && npm run bench';

async function main(): Promise<void> {
  cleanUpOnSignals();
  const wanted = process.argv.slice(2);
  const unknown = wanted.filter((w) => !(w in BENCHES));
  if (unknown.length) throw new Error(`unknown bench ${unknown.join(', ')}; known: ${Object.keys(BENCHES).join(', ')}`);
  const names = wanted.length ? wanted : Object.keys(BENCHES);
  const sections: Section[] = [];
  const failed: string[] = [];
  const started = Date.now();
  const calibrationBefore = await cpuCalibrationMs();
  for (const name of names) {
    const t0 = Date.now();
    process.stderr.write(`\n=== bench ${name}\n`);
    try {
      const got = [await BENCHES[name]!()].flat();
      for (const s of got) process.stdout.write(`\n${renderSection(s)}`);
      sections.push(...got);
      process.stderr.write(`=== bench ${name} done in ${((Date.now() - t0) / 1000).toFixed(0)} s\n`);
    } catch (err) {
      failed.push(name);
      process.stderr.write(`=== bench ${name} failed: ${err instanceof Error ? err.stack : String(err)}\n`);
    }
  }
  const minutes = ((Date.now() - started) / 60_000).toFixed(1);
  if (failed.length) {
    process.exitCode = 1;
    process.stderr.write(`\nfailed: ${failed.join(', ')}; docs/benchmarks.md left as it was\n`);
    return;
  }
  if (wanted.length) return;
  const doc = `# Benchmarks

Quarry's performance goals (design.md, "Performance targets"), measured. Benchmarks measure; they are not run in CI and assert nothing.

- Command: \`${COMMAND}\` (as root; runs \`node dist/bench/run-all.js\`, which runs every bench in turn, about ${minutes} minutes here).
  One bench alone: \`node dist/bench/run-all.js ${Object.keys(BENCHES).join('|')}\` (prints its tables, leaves this file alone).
- Date: ${new Date().toISOString()}
${await describeMachine()}
- The host is a shared VM where other test workloads may run at the same time: expect run-to-run variance.
  Host speed, a fixed single-threaded loop of 3·10⁸ steps in a fresh Node process (bench/lib/cpu-loop.ts), median of three:
  ${calibrationBefore.toFixed(0)} ms before the benches, ${(await cpuCalibrationMs()).toFixed(0)} ms after (${CALIBRATION_REFERENCE}).
  Compare runs by their ratios to the baselines, not by their absolute figures.

${sections.map(renderSection).join('\n')}`;
  const out = fileURLToPath(new URL('../../docs/benchmarks.md', import.meta.url));
  await writeFile(out, doc);
  process.stderr.write(`\nwritten to ${out}\n`);
}

main().catch((err) => {
  process.stderr.write(`bench failed: ${err instanceof Error ? err.stack : String(err)}\n`);
  process.exitCode = 1;
});
