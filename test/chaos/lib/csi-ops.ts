// Chaos helper: the CSI calls of the suite, against whatever process currently serves the role, so
// a retry after a restart reaches the new process.
import { mkdir } from 'node:fs/promises';
import { join } from 'node:path';
import { call } from '../../helpers/grpc-client.js';
import type { ChaosCluster } from './cluster.js';

export type Kind = 'ext4' | 'xfs' | 'block';

export const CALL_TIMEOUT_MS = 60_000;

export function capability(kind: Kind, mode = 'SINGLE_NODE_WRITER') {
  return kind === 'block' ? { block: {}, access_mode: { mode } } : { mount: { fs_type: kind, mount_flags: [] }, access_mode: { mode } };
}

export interface Source {
  snapshotId?: string;
  volumeId?: string;
}

export async function createVolume(
  c: ChaosCluster,
  name: string,
  kind: Kind,
  sizeBytes: number,
  source?: Source,
  parameters: Record<string, string> = {},
): Promise<string> {
  const res = await call(
    c.ctl().controller,
    'CreateVolume',
    {
      name,
      capacity_range: { required_bytes: sizeBytes },
      volume_capabilities: [capability(kind)],
      parameters: { ...(kind === 'block' ? {} : { 'csi.storage.k8s.io/fstype': kind }), ...parameters },
      volume_content_source: source?.snapshotId
        ? { snapshot: { snapshot_id: source.snapshotId } }
        : source?.volumeId
          ? { volume: { volume_id: source.volumeId } }
          : undefined,
    } as never,
    { timeoutMs: CALL_TIMEOUT_MS },
  );
  return (res as { volume: { volume_id: string } }).volume.volume_id;
}

export async function deleteVolume(c: ChaosCluster, volumeId: string): Promise<void> {
  await call(c.ctl().controller, 'DeleteVolume', { volume_id: volumeId } as never, { timeoutMs: CALL_TIMEOUT_MS });
}

export async function createSnapshot(c: ChaosCluster, name: string, sourceVolumeId: string): Promise<string> {
  const res = await call(c.ctl().controller, 'CreateSnapshot', { name, source_volume_id: sourceVolumeId } as never, {
    timeoutMs: CALL_TIMEOUT_MS,
  });
  return (res as { snapshot: { snapshot_id: string } }).snapshot.snapshot_id;
}

export async function deleteSnapshot(c: ChaosCluster, snapshotId: string): Promise<void> {
  await call(c.ctl().controller, 'DeleteSnapshot', { snapshot_id: snapshotId } as never, { timeoutMs: CALL_TIMEOUT_MS });
}

export async function getCapacity(c: ChaosCluster): Promise<number> {
  const res = await call(c.ctl().controller, 'GetCapacity', {} as never);
  return Number((res as { available_capacity: number | string }).available_capacity);
}

export async function stage(c: ChaosCluster, volumeId: string, stagingPath: string, kind: Kind): Promise<void> {
  await call(
    c.node().node,
    'NodeStageVolume',
    { volume_id: volumeId, staging_target_path: stagingPath, volume_capability: capability(kind) } as never,
    { timeoutMs: CALL_TIMEOUT_MS },
  );
}

export async function unstage(c: ChaosCluster, volumeId: string, stagingPath: string): Promise<void> {
  await call(c.node().node, 'NodeUnstageVolume', { volume_id: volumeId, staging_target_path: stagingPath } as never, {
    timeoutMs: CALL_TIMEOUT_MS,
  });
}

export async function publish(c: ChaosCluster, volumeId: string, stagingPath: string, targetPath: string, kind: Kind): Promise<void> {
  await call(
    c.node().node,
    'NodePublishVolume',
    {
      volume_id: volumeId,
      staging_target_path: stagingPath,
      target_path: targetPath,
      volume_capability: capability(kind),
      readonly: false,
    } as never,
    { timeoutMs: CALL_TIMEOUT_MS },
  );
}

export async function unpublish(c: ChaosCluster, volumeId: string, targetPath: string): Promise<void> {
  await call(c.node().node, 'NodeUnpublishVolume', { volume_id: volumeId, target_path: targetPath } as never, {
    timeoutMs: CALL_TIMEOUT_MS,
  });
}

export async function nodeExpand(
  c: ChaosCluster,
  volumeId: string,
  volumePath: string,
  stagingPath: string,
  kind: Kind,
  sizeBytes: number,
): Promise<number> {
  const res = await call(
    c.node().node,
    'NodeExpandVolume',
    {
      volume_id: volumeId,
      volume_path: volumePath,
      staging_target_path: stagingPath,
      capacity_range: { required_bytes: sizeBytes },
      volume_capability: capability(kind),
    } as never,
    { timeoutMs: CALL_TIMEOUT_MS },
  );
  return Number((res as { capacity_bytes: number | string }).capacity_bytes);
}

/** Staging and target paths under the work dir; the target's parent exists, as kubelet makes it. */
export async function pathsFor(c: ChaosCluster, label: string): Promise<{ staging: string; target: string }> {
  const staging = join(c.workDir, 'plugins', 'staging', label);
  const podDir = join(c.workDir, 'pods', label);
  await mkdir(staging, { recursive: true });
  await mkdir(podDir, { recursive: true });
  return { staging, target: join(podDir, 'mount') };
}

/** A gRPC error as one readable line. */
export function describeError(err: unknown): string {
  const e = err as { code?: number; details?: string; message?: string };
  return e?.code !== undefined
    ? `code ${e.code}: ${(e.details ?? e.message ?? '').slice(0, 300)}`
    : String((err as Error)?.message ?? err).slice(0, 300);
}
