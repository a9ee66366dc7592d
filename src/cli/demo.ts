import { mkdir, rmdir } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import { parseArgs } from 'node:util';
import { startService, type ServiceProcess } from '../demo/processes.js';
import { walkVolume, type Step } from '../demo/walkthrough.js';
import { call, csiClients } from '../wire/client.js';
import { UsageError } from './config.js';
import { parseArgsOptions, type FlagTable } from './flag-table.js';

/** demo's flags; parsing and `quarry demo --help` both come from here. */
export const DEMO_FLAGS = {
  dir: { type: 'string', default: '.quarry', arg: 'DIR', help: 'where the demo keeps its pool (DIR/pool) and sockets' },
} as const satisfies FlagTable;

/**
 * `quarry demo`: Quarry's main job end to end on an embedded pool (default
 * ./.quarry/pool): real controller and node processes on their own sockets,
 * one volume walked through its life, each step printed.
 */
export async function demo(argv: string[]): Promise<number> {
  let values;
  try {
    ({ values } = parseArgs({
      args: argv,
      options: parseArgsOptions(DEMO_FLAGS) as { dir: { type: 'string'; default: string } },
      strict: true,
    }));
  } catch (err) {
    throw new UsageError(`${(err as Error).message}; pass quarry demo [--dir DIR]`);
  }
  const dir = resolve(values.dir!);
  const pool = join(dir, 'pool');
  const run = join(dir, 'run', String(process.pid));
  await mkdir(pool, { recursive: true });
  await mkdir(run, { recursive: true });
  const common = ['--nodeid', 'demo-node', '--pool', pool];
  const services: ServiceProcess[] = [];
  const undo: Array<() => Promise<unknown>> = [];
  let failed = false;
  const step: Step = async (name, fn) => {
    const started = performance.now();
    try {
      const detail = await fn();
      print(`ok   ${name.padEnd(48)} ${(performance.now() - started).toFixed(0).padStart(5)} ms  ${detail}`);
    } catch (err) {
      print(`FAIL ${name}: ${(err as Error).message}`);
      throw err;
    }
  };
  print(`Quarry demo: pool ${pool}`);
  try {
    const start = async (role: 'controller' | 'node') => {
      const service = await startService(role, run, common);
      services.push(service);
      return service.socket;
    };
    await step('start quarry controller', () => start('controller'));
    await step('start quarry node', () => start('node'));
    const controller = csiClients(services[0]!.socket);
    const node = csiClients(services[1]!.socket);
    try {
      await step('Probe', async () => `ready=${(await call(controller.identity, 'Probe', {})).ready?.value}`);
      await walkVolume({ ...controller, node: node.node }, run, step, undo);
    } finally {
      for (const u of undo.reverse()) await u().catch(() => undefined);
      controller.close();
      node.close();
    }
  } catch {
    failed = true;
    for (const s of services) print(`--- ${s.role} log ---\n${s.log()}`);
  } finally {
    for (const s of services.reverse()) await s.stop();
    await removeRunDir(run);
  }
  print(failed ? 'demo failed' : 'demo finished: every step passed');
  return failed ? 1 : 0;
}

/** The run directory holds only empty mount points by now; rmdir (never recursive) proves it. */
async function removeRunDir(run: string) {
  for (const d of [join(run, 'staging'), join(run, 'target'), run]) await rmdir(d).catch(() => undefined);
}

function print(line: string) {
  process.stdout.write(`${line}\n`);
}
