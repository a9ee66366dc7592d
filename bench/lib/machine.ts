/** What the benches ran on, for the report. */
import { readFile } from 'node:fs/promises';
import { cpus, release, tmpdir, totalmem } from 'node:os';
import { fileURLToPath } from 'node:url';
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
 * The host's speed at that moment: a fixed single-threaded loop (cpu-loop.ts), each time in a
 * fresh Node process so V8 has the same start; the median of three. On this shared VM the other
 * tenants' load shows here (a run's baselines move with it), so runs on different days can be
 * told apart.
 */
export async function cpuCalibrationMs(): Promise<number> {
  const loop = fileURLToPath(new URL('./cpu-loop.js', import.meta.url));
  const times: number[] = [];
  for (let i = 0; i < 3; i++) times.push(Number((await run(process.execPath, [loop])).stdout));
  return times.sort((a, b) => a - b)[1]!;
}

/** A day's reading of cpuCalibrationMs to compare a run against, and what the baselines did then. */
export const CALIBRATION_REFERENCE = 'on 2026-12-02, 1,733–1,781 ms, a day when the baselines ran 1.5–2.5× slower than on 2026-11-30';
