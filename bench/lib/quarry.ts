import { readFileSync } from 'node:fs';
/**
 * Real `quarry controller` / `quarry node` processes over a pool on a fresh loop-mounted scratch
 * filesystem, for benches. Built on the test helpers, so every process, mount and loop device is
 * removed by the scope's cleanup even when the bench fails.
 */
import { mkdir } from 'node:fs/promises';
import { join, sep } from 'node:path';
import { GiB } from '../../src/domain/bytes.js';
import type { FsType } from '../../src/domain/volume.js';
import { startQuarry, type QuarryProcess } from '../../test/helpers/quarry-process.js';
import { makeScratchFs, makeTempDir, onCleanup, type HasAfter, type ScratchFs } from '../../test/helpers/scratch.js';
import { detachLoop, listLoops } from '../../src/host/losetup.js';
import { unmount } from '../../src/host/mount.js';
import { mountsUnder } from '../../src/host/mountinfo.js';

export interface BenchPool {
  fs: ScratchFs;
  path: string;
  /** Staging and target paths live here (outside the pool). */
  workDir: string;
}

export interface PoolOptions {
  fsType: FsType;
  sizeBytes?: number;
  reflink?: boolean;
}

/** A pool directory on a fresh scratch filesystem, default 400 GiB sparse. */
export async function benchPool(scope: HasAfter, opts: PoolOptions): Promise<BenchPool> {
  const fs = await makeScratchFs(scope, { sizeBytes: 400 * GiB, ...opts });
  const path = join(fs.mountPath, 'pool');
  await mkdir(path);
  const workDir = await makeTempDir(scope, 'bench-work');
  // Volumes a failed bench left staged: unmount them and detach their loops, or the scratch fs stays busy.
  onCleanup(scope, async () => {
    for (const m of (await mountsUnder(workDir)).sort((a, b) => b.mountPoint.length - a.mountPoint.length)) await unmount(m.mountPoint);
    for (const l of await listLoops()) if (l.backingFile.startsWith(fs.mountPath + sep)) await detachLoop(l.device);
  });
  return { fs, path, workDir };
}

/** The V8 flags the container image runs quarry with (its Dockerfile's ENV NODE_OPTIONS), so the bench measures the shipped process. */
export function imageNodeOptions(): string {
  const dockerfile = readFileSync(new URL('../../../Dockerfile', import.meta.url), 'utf8');
  return /^ENV NODE_OPTIONS="([^"]*)"$/m.exec(dockerfile)?.[1] ?? '';
}

/**
 * Every `ENV NAME=value` of the Dockerfile's runtime image (NODE_OPTIONS, the allocator's
 * settings, ...), so benches run processes with the environment the image gives them.
 */
export function imageEnv(): Record<string, string> {
  const dockerfile = readFileSync(new URL('../../../Dockerfile', import.meta.url), 'utf8');
  const runtime = dockerfile.slice(dockerfile.lastIndexOf('\nFROM '));
  const env: Record<string, string> = {};
  for (const m of runtime.matchAll(/^ENV ([A-Za-z_][A-Za-z0-9_]*)=(?:"([^"]*)"|(\S*))$/gm)) env[m[1]!] = m[2] ?? m[3] ?? '';
  return env;
}

/**
 * The flags the image's launcher (/usr/local/bin/quarry, written by the Dockerfile) gives node
 * before quarry's main module: V8 flags that NODE_OPTIONS does not admit.
 */
export function imageNodeArgs(): string[] {
  const dockerfile = readFileSync(new URL('../../../Dockerfile', import.meta.url), 'utf8');
  const m = /exec node ((?:--[\w-]+(?:=\S+)? )*)\/opt\/quarry\/dist\/src\/cli\/main\.js/.exec(dockerfile);
  if (!m) throw new Error('no launcher line `exec node [flags] /opt/quarry/dist/src/cli/main.js` in the Dockerfile');
  return m[1]!.split(' ').filter(Boolean);
}

/** Starts `quarry <role>` on the pool (node ID bench-node, overprovisioning 10, warn logging), as the image runs it. */
export function startOnPool(scope: HasAfter, role: 'controller' | 'node', pool: BenchPool): Promise<QuarryProcess> {
  return startQuarry(scope, {
    role,
    dir: pool.workDir,
    socketName: `${role}.sock`,
    args: ['--nodeid', 'bench-node', '--pool', pool.path, '--overprovisioning', '10', '--log-level', 'warn'],
    env: imageEnv(),
    nodeArgs: imageNodeArgs(),
  });
}

export function mountCapability(fsType: FsType) {
  return { mount: { fs_type: fsType, mount_flags: [] }, access_mode: { mode: 'SINGLE_NODE_WRITER' } };
}

export function createRequest(name: string, sizeBytes: number, fsType: FsType) {
  return {
    name,
    capacity_range: { required_bytes: sizeBytes },
    volume_capabilities: [mountCapability(fsType)],
    parameters: { 'csi.storage.k8s.io/fstype': fsType, provisioning: 'thin' },
  } as never;
}

export type { QuarryProcess };
