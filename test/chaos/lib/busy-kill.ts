// Chaos helper: a kill aimed at the instants that matter. Polls a quarry process's children and
// SIGKILLs the process while it runs one of the host tools below (cp during a snapshot copy, the
// freeze window; mkfs, mount, losetup during a stage; the grow tools during an expansion). The
// tool itself survives its parent, exactly as it would on a node where the plugin is OOM-killed.
import { readdir, readFile } from 'node:fs/promises';

export const HOST_TOOLS = [
  'cp',
  'fsfreeze',
  'mkfs.ext4',
  'mkfs.xfs',
  'mke2fs',
  'mount',
  'umount',
  'losetup',
  'xfs_growfs',
  'resize2fs',
  'blkid',
  'fallocate',
];

/** Names (comm) of the live children of every thread of `pid`. */
export async function childCommands(pid: number): Promise<string[]> {
  const tasks = await readdir(`/proc/${pid}/task`).catch(() => [] as string[]);
  const out: string[] = [];
  for (const task of tasks) {
    const kids = (await readFile(`/proc/${pid}/task/${task}/children`, 'utf8').catch(() => '')).trim();
    for (const kid of kids ? kids.split(/\s+/) : []) {
      const comm = (await readFile(`/proc/${kid}/comm`, 'utf8').catch(() => '')).trim();
      if (comm) out.push(comm);
    }
  }
  return out;
}

/**
 * Resolves with the tool seen once `pid` runs one of `tools`, or undefined after `timeoutMs`
 * (the caller then kills at that instant anyway).
 */
export async function waitForHostTool(pid: number, timeoutMs: number, tools: readonly string[] = HOST_TOOLS): Promise<string | undefined> {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    const busy = (await childCommands(pid)).find((c) => tools.includes(c));
    if (busy) return busy;
    await new Promise((r) => setTimeout(r, 2));
  }
  return undefined;
}
