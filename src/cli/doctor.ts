// `quarry doctor`: checks this host before install and prints one line per check (or JSON).
import { parseArgs } from 'node:util';
import { isAbsolute, resolve } from 'node:path';
import { checkCapabilities } from '../doctor/capabilities.js';
import { checkKernelFilesystems } from '../doctor/kernel-fs.js';
import { checkKubeletDir, DEFAULT_KUBELET_DIR } from '../doctor/kubelet.js';
import { checkLoop } from '../doctor/loop.js';
import { checkPool, type PoolSpec } from '../doctor/pool.js';
import { exitCodeFor, formatJson, formatResults, type CheckResult } from '../doctor/result.js';
import { checkTools } from '../doctor/tools.js';
import { parsePoolFlag, UsageError } from './config.js';
import { parseArgsOptions, type FlagTable } from './flag-table.js';

export interface DoctorOptions {
  pools: PoolSpec[];
  kubeletDir: string;
  json: boolean;
}

/** doctor's flags; parsing and `quarry doctor --help` both come from here. */
export const DOCTOR_FLAGS = {
  pool: { type: 'string', multiple: true, arg: '[name=]/path', help: 'a pool directory to check (writes nothing)' },
  'kubelet-dir': { type: 'string', default: DEFAULT_KUBELET_DIR, arg: 'DIR', help: "the kubelet's root directory (kubelet --root-dir)" },
  json: { type: 'boolean', default: false, help: 'print the results as JSON, one object per check' },
} as const satisfies FlagTable;

const OPTIONS = parseArgsOptions(DOCTOR_FLAGS) as {
  pool: { type: 'string'; multiple: true };
  'kubelet-dir': { type: 'string'; default: string };
  json: { type: 'boolean'; default: boolean };
};

export const DOCTOR_USAGE = 'quarry doctor [--pool [name=]/path ...] [--kubelet-dir DIR] [--json]';
const USAGE = DOCTOR_USAGE;

export function parseDoctorArgs(argv: string[]): DoctorOptions {
  let values;
  try {
    ({ values } = parseArgs({ args: argv, options: OPTIONS, strict: true, allowPositionals: false }));
  } catch (err) {
    throw new UsageError(`${(err as Error).message}; pass ${USAGE}`);
  }
  const pools = (values.pool ?? []).map(parsePoolFlag);
  const seen = new Set<string>();
  for (const p of pools) {
    if (seen.has(p.name))
      throw new UsageError(`pool name "${p.name}" given twice: pass a distinct name for each --pool, as --pool fast=/path`);
    seen.add(p.name);
  }
  const kubeletDir = values['kubelet-dir']!;
  if (!kubeletDir) throw new UsageError('empty --kubelet-dir: pass --kubelet-dir /var/lib/kubelet (the kubelet --root-dir)');
  return { pools, kubeletDir: isAbsolute(kubeletDir) ? kubeletDir : resolve(kubeletDir), json: values.json! };
}

export async function runChecks(opts: DoctorOptions): Promise<CheckResult[]> {
  const [loop, tools, kernel, caps, kubelet] = await Promise.all([
    checkLoop(),
    checkTools(),
    checkKernelFilesystems(),
    checkCapabilities(),
    checkKubeletDir(opts.kubeletDir),
  ]);
  const pools: CheckResult[] = [];
  for (const p of opts.pools) pools.push(...(await checkPool(p)));
  return [...loop, ...tools, ...kernel, caps, ...pools, kubelet];
}

export async function doctor(argv: string[]): Promise<number> {
  const opts = parseDoctorArgs(argv);
  const results = await runChecks(opts);
  process.stdout.write(opts.json ? formatJson(results) : formatResults(results));
  return exitCodeFor(results);
}
