// Runs the upstream csi-sanity suite against real, separate `quarry controller` and `quarry node` processes.
import { spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { writeFile } from 'node:fs/promises';
import { CAP_SYS_RESOURCE, hasCapability } from '../../src/host/capabilities.js';
import { homedir } from 'node:os';
import { join } from 'node:path';

export function csiSanityBinary(): string {
  const candidates = [
    process.env.CSI_SANITY,
    join(process.env.GOBIN ?? '', 'csi-sanity'),
    join(process.env.GOPATH ?? join(homedir(), 'go'), 'bin/csi-sanity'),
  ];
  const found = candidates.find((c) => c && existsSync(c));
  if (!found) throw new Error('csi-sanity is not installed: run .ci/run, which go-installs it at the pinned version');
  return found;
}

/** True when this process may grow a mounted ext4 (the kernel's online resize needs CAP_SYS_RESOURCE). */
export const canResizeExt4Online = () => hasCapability(CAP_SYS_RESOURCE);

export interface SanityResult {
  exitCode: number;
  passed: number;
  failed: number;
  skipped: number;
  summary: string;
  failures: string[];
  log: string;
}

export async function runCsiSanity(args: string[], env: NodeJS.ProcessEnv = process.env, timeoutMs = 15 * 60_000): Promise<SanityResult> {
  const child = spawn(csiSanityBinary(), [...args, '-ginkgo.no-color'], { stdio: ['ignore', 'pipe', 'pipe'], env });
  let log = '';
  child.stdout!.on('data', (d) => (log += d));
  child.stderr!.on('data', (d) => (log += d));
  const timer = setTimeout(() => child.kill('SIGKILL'), timeoutMs);
  const exitCode: number = await new Promise((r) => child.once('exit', (code) => r(code ?? -1)));
  clearTimeout(timer);
  const m = /(\d+) Passed \| (\d+) Failed \| (\d+) Pending \| (\d+) Skipped/.exec(log);
  return {
    exitCode,
    passed: m ? Number(m[1]) : 0,
    failed: m ? Number(m[2]) : -1,
    skipped: m ? Number(m[4]) : 0,
    summary: /^Ran .*$/m.exec(log)?.[0] ?? 'no summary',
    failures: [...log.matchAll(/^\s*\[FAIL\] (.*)$/gm)].map((x) => x[1]!),
    log,
  };
}

export async function writeParametersFile(dir: string, params: Record<string, string>, name = 'volume-parameters.yaml'): Promise<string> {
  const file = join(dir, name);
  await writeFile(
    file,
    Object.entries(params)
      .map(([k, v]) => `${k}: "${v}"\n`)
      .join(''),
  );
  return file;
}
