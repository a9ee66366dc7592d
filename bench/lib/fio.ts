/** fio for the I/O bench: installed with apt-get when missing, run with JSON output. */
import { run } from '../../src/host/exec.js';

/** Makes sure fio is there; returns a note for the report when this run had to install it. */
export async function ensureFio(): Promise<string | undefined> {
  if (await fioVersion()) return undefined;
  process.stderr.write('fio is missing: running `apt-get install -y fio`\n');
  await run('apt-get', ['install', '-y', '-q', 'fio'], { timeoutMs: 600_000 });
  const v = await fioVersion();
  if (!v) throw new Error('apt-get install -y fio did not give a working fio');
  return `fio was not installed; this run installed it with \`apt-get install -y fio\` (${v}).`;
}

export async function fioVersion(): Promise<string | undefined> {
  return run('fio', ['--version']).then(
    (r) => r.stdout.trim(),
    () => undefined,
  );
}

export interface FioJob {
  rw: 'write' | 'read' | 'randread' | 'randwrite';
  bs: string;
  /** File size (also the range random I/O covers). */
  size: string;
  /** I/Os per job; unset = the whole size once. */
  ios?: number;
  jobs?: number;
}

export interface FioResult {
  bytesPerSec: number;
  iops: number;
}

/** One fio run against `file` with O_DIRECT, psync (queue depth 1 per job), summed over jobs. */
export async function runFio(file: string, job: FioJob): Promise<FioResult> {
  const args = [
    '--name=bench',
    `--filename=${file}`,
    `--rw=${job.rw}`,
    `--bs=${job.bs}`,
    `--size=${job.size}`,
    '--direct=1',
    '--ioengine=psync',
    '--iodepth=1',
    '--fallocate=none',
    '--randrepeat=0',
    `--numjobs=${job.jobs ?? 1}`,
    '--group_reporting',
    '--output-format=json',
    ...(job.ios ? [`--number_ios=${job.ios}`] : []),
    ...(job.rw.includes('write') ? ['--end_fsync=1'] : []),
  ];
  const r = await run('fio', args, { timeoutMs: 600_000 });
  const out = JSON.parse(r.stdout.slice(r.stdout.indexOf('{'))) as {
    jobs: Array<Record<'read' | 'write', { bw_bytes: number; iops: number }>>;
  };
  const side = out.jobs[0]![job.rw.includes('write') ? 'write' : 'read'];
  return { bytesPerSec: side.bw_bytes, iops: side.iops };
}
