import { createHash, randomBytes } from 'node:crypto';
import { readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { call, type CsiClients } from '../wire/client.js';

export type Step = (name: string, fn: () => Promise<string>) => Promise<void>;

const MOUNT_CAP = { mount: { fs_type: 'ext4', mount_flags: [] }, access_mode: { mode: 'SINGLE_NODE_WRITER' as const } };

/**
 * One volume's whole life, the way kubelet and the sidecars drive it:
 * create, stage, publish, write, read back, unpublish, unstage, delete.
 * Undo steps are collected so a failure part-way still cleans up.
 */
export async function walkVolume(c: CsiClients, dir: string, step: Step, undo: Array<() => Promise<unknown>>): Promise<void> {
  let volumeId = '';
  const staging = join(dir, 'staging');
  const target = join(dir, 'target');
  const payload = randomBytes(4 * 1024 * 1024);
  const sum = createHash('sha256').update(payload).digest('hex');

  await step('CreateVolume (1 GiB, thin, ext4)', async () => {
    const r = await call(c.controller, 'CreateVolume', {
      name: `demo-${Date.now()}`,
      capacity_range: { required_bytes: 1024 ** 3 },
      volume_capabilities: [MOUNT_CAP],
      parameters: { 'csi.storage.k8s.io/fstype': 'ext4' },
    });
    volumeId = r.volume!.volume_id;
    undo.push(() => call(c.controller, 'DeleteVolume', { volume_id: volumeId }));
    return `${volumeId}, ${r.volume!.capacity_bytes} bytes`;
  });
  await step('NodeStageVolume (loop device, mkfs.ext4, mount)', async () => {
    await call(
      c.node,
      'NodeStageVolume',
      { volume_id: volumeId, staging_target_path: staging, volume_capability: MOUNT_CAP },
      { timeoutMs: 60_000 },
    );
    undo.push(() => call(c.node, 'NodeUnstageVolume', { volume_id: volumeId, staging_target_path: staging }));
    return `staged at ${staging}`;
  });
  await step('NodePublishVolume (bind mount)', async () => {
    await call(c.node, 'NodePublishVolume', {
      volume_id: volumeId,
      staging_target_path: staging,
      target_path: target,
      volume_capability: MOUNT_CAP,
    });
    undo.push(() => call(c.node, 'NodeUnpublishVolume', { volume_id: volumeId, target_path: target }));
    return `published at ${target}`;
  });
  await step('write 4 MiB through the target path', async () => {
    await writeFile(join(target, 'hello.bin'), payload, { flush: true });
    return `sha256 ${sum.slice(0, 16)}…`;
  });
  await step('read it back', async () => {
    const back = createHash('sha256')
      .update(await readFile(join(target, 'hello.bin')))
      .digest('hex');
    if (back !== sum) throw new Error(`read back ${back}, wrote ${sum}`);
    return 'checksum matches';
  });
  const stats = await call(c.node, 'NodeGetVolumeStats', { volume_id: volumeId, volume_path: target });
  await step(
    'NodeGetVolumeStats',
    async () => `${stats.usage?.[0]?.used} bytes used of ${stats.usage?.[0]?.total}; ${stats.volume_condition?.message}`,
  );
  const undoLast = async (done: string) => {
    await undo.pop()!();
    return done;
  };
  await step('NodeUnpublishVolume', () => undoLast('target unmounted and removed'));
  await step('NodeUnstageVolume', () => undoLast('staging unmounted, loop device detached'));
  await step('DeleteVolume', () => undoLast(`${volumeId} deleted`));
}
