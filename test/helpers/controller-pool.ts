// Test helper: one scratch pool on a loop-mounted filesystem served by a real `quarry controller`
// for node-a, the set-up the controller volume tests share, and CreateVolume as one call.
import { MiB } from '../../src/domain/bytes.js';
import type { PublicationRecord } from '../../src/storage/records.js';
import { call, type CsiClients } from './grpc-client.js';
import { scratchPoolDir, startQuarry } from './quarry-process.js';
import { makeTempDir, type HasAfter } from './scratch.js';

/** A single-node-writer mount capability with the pool's default filesystem. */
export const RW = [{ mount: { fs_type: '', mount_flags: [] }, access_mode: { mode: 'SINGLE_NODE_WRITER' } }] as any[];

/** The socket directory, the pool (its scratch fs and path) and the controller serving it for node-a. */
export async function startControllerPool(t: HasAfter, fsType: 'xfs' | 'ext4') {
  const sock = await makeTempDir(t, 'sock');
  const { fs, path: pool } = await scratchPoolDir(t, { fsType });
  const q = await startQuarry(t, { role: 'controller', dir: sock, args: ['--nodeid', 'node-a', '--pool', pool] });
  return { sock, fs, pool, q };
}

/** CreateVolume of a mount volume of `sizeBytes` (pool defaults otherwise); the created volume. */
export async function createVolume(ctl: CsiClients['controller'], name: string, sizeBytes = MiB) {
  return (await call(ctl, 'CreateVolume', { name, volume_capabilities: RW, capacity_range: { required_bytes: sizeBytes } } as any)).volume!;
}

/** A publication to node-a as a volume record stores it, for records written by hand or by another process. */
export const publicationOnNodeA = (): PublicationRecord => ({
  nodeId: 'node-a',
  targetPath: '/var/lib/kubelet/pods/x/mount',
  readOnly: false,
  accessType: 'mount',
  accessMode: 'SINGLE_NODE_WRITER',
  mountFlags: [],
});
