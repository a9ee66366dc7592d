/** What the benches ran on, for the report. */
import { readFile } from 'node:fs/promises';
import { cpus, release, tmpdir, totalmem } from 'node:os';
import { GiB } from '../../src/domain/bytes.js';
import { run } from '../../src/host/exec.js';

/** Filesystem type and device under the temp dir, where the scratch pool images live. */
export async function hostFsOfTemp(): Promise<string> {
  return (await run('findmnt', ['-no', 'FSTYPE,SOURCE', '-T', tmpdir()])).stdout.trim().replace(/\s+/g, ' ');
}

export async function describeMachine(): Promise<string> {
  const cpu = cpus()[0]?.model ?? 'unknown';
  const pkg = JSON.parse(await readFile(new URL('../../../package.json', import.meta.url), 'utf8')) as { version: string };
  return [
    `- Quarry ${pkg.version}; Node ${process.version}; kernel ${release()} (\`uname -r\`)`,
    `- ${cpus().length} cores (${cpu}); ${(totalmem() / GiB).toFixed(1)} GiB memory`,
    `- Pools: fresh sparse scratch filesystems (xfs with \`-m reflink=1\`, or ext4) on loop devices (direct I/O)`,
    `  whose images live on the host's ${await hostFsOfTemp()} (\`${tmpdir()}\`); each bench makes its own and removes them.`,
  ].join('\n');
}

/**
 * The same fixed single-threaded loop, timed: the host's speed at that moment. On this shared VM
 * the other tenants' load shows here (a run's baselines move with it), so runs on different days
 * can be told apart.
 */
export function cpuCalibrationMs(): number {
  const started = process.hrtime.bigint();
  let x = 0;
  for (let i = 0; i < 300_000_000; i++) x = (x * 31 + i) | 0;
  const ms = Number(process.hrtime.bigint() - started) / 1e6;
  return x === 1 ? ms + 1 : ms; // uses x, so the loop is not optimised away
}
