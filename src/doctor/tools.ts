// Check: every host tool Quarry runs is installed and runs.
import { run } from '../host/exec.js';
import { errorText, fail, ok, type CheckResult } from './result.js';

export interface ToolSpec {
  tool: string;
  /** Debian package that provides it. */
  pkg: string;
  args: string[];
  /** Exit codes that still mean "it ran" (resize2fs has no version flag: it prints its version and exits 1). */
  okExitCodes?: number[];
  /** The output must match this for the tool to count as runnable. */
  expect?: RegExp;
}

export const TOOLS: readonly ToolSpec[] = [
  { tool: 'mkfs.ext4', pkg: 'e2fsprogs', args: ['-V'] },
  { tool: 'mkfs.xfs', pkg: 'xfsprogs', args: ['-V'] },
  { tool: 'mkfs.btrfs', pkg: 'btrfs-progs', args: ['--version'] },
  { tool: 'resize2fs', pkg: 'e2fsprogs', args: ['-V'], okExitCodes: [1], expect: /resize2fs \d/ },
  { tool: 'e2fsck', pkg: 'e2fsprogs', args: ['-V'] },
  { tool: 'dumpe2fs', pkg: 'e2fsprogs', args: ['-V'] },
  { tool: 'xfs_growfs', pkg: 'xfsprogs', args: ['-V'] },
  { tool: 'btrfs', pkg: 'btrfs-progs', args: ['--version'] },
  { tool: 'blkid', pkg: 'util-linux', args: ['-V'] },
  { tool: 'losetup', pkg: 'util-linux', args: ['--version'] },
  { tool: 'mount', pkg: 'mount', args: ['--version'] },
  { tool: 'umount', pkg: 'mount', args: ['--version'] },
  { tool: 'fsfreeze', pkg: 'util-linux', args: ['-V'] },
  { tool: 'xfs_io', pkg: 'xfsprogs', args: ['-V'] }, // the freezer (design: Freeze)
  { tool: 'fallocate', pkg: 'util-linux', args: ['-V'] },
  { tool: 'flock', pkg: 'util-linux', args: ['-V'] }, // the pool lock (design: Pool lock and concurrency)
  { tool: 'cp', pkg: 'coreutils', args: ['--version'] },
];

/** The line of a version banner worth showing: the first non-empty one, shortened. */
export function versionLine(output: string, tool: string): string {
  const lines = output
    .split('\n')
    .map((l) => l.trim())
    .filter(Boolean);
  const withVersion = lines.find((l) => /\d+\.\d+/.test(l) && !/invalid option|usage/i.test(l));
  return (withVersion ?? lines[0] ?? `${tool} ran`).slice(0, 120);
}

export async function checkTool(spec: ToolSpec): Promise<CheckResult> {
  const name = `tool ${spec.tool}`;
  const fix = `install ${spec.pkg} (apt-get install ${spec.pkg}) in the image or on the host`;
  try {
    const r = await run(spec.tool, spec.args, { timeoutMs: 10_000, okExitCodes: spec.okExitCodes ?? [] });
    const out = `${r.stdout}\n${r.stderr}`;
    if (spec.expect && !spec.expect.test(out)) {
      return fail(name, `${spec.tool} ${spec.args.join(' ')} ran but did not print its version: ${versionLine(out, spec.tool)}`, fix);
    }
    return ok(name, versionLine(out, spec.tool));
  } catch (err) {
    const msg = errorText(err);
    return fail(name, /is not installed/.test(msg) ? `${spec.tool} not found on PATH` : `${spec.tool} does not run: ${msg}`, fix);
  }
}

export async function checkTools(specs: readonly ToolSpec[] = TOOLS): Promise<CheckResult[]> {
  return Promise.all(specs.map((s) => checkTool(s)));
}
