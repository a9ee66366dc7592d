// A filesystem volume below its mkfs minimum is refused at CreateVolume (it could never be
// staged), and the minimum is the real one: a volume of exactly that size stages.
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { test } from 'node:test';
import { status } from '@grpc/grpc-js';
import { GiB, MiB } from '../../src/domain/bytes.js';
import { FS_MINIMUM_BYTES } from '../../src/services/controller/fs-minimum.js';
import { call } from '../helpers/grpc-client.js';
import { rejectsWithCode } from '../helpers/quarry-process.js';
import { makeScratchFs } from '../helpers/scratch.js';
import { mountCapability, stageAndPublish, startQuarryOnPool } from '../helpers/snapshot-harness.js';

test('xfs under 300 MiB and btrfs under its minimum are INVALID_ARGUMENT naming the minimum; at the minimum they stage', async (t) => {
  const fs = await makeScratchFs(t, { fsType: 'xfs', sizeBytes: 2 * GiB });
  const q = await startQuarryOnPool(t, { role: 'all', dir: fs.dir, pool: join(fs.mountPath, 'pool') });
  const c = q.clients.controller;
  const create = (name: string, fsType: string, size: number, block = false) =>
    call(c, 'CreateVolume', {
      name,
      capacity_range: { required_bytes: size },
      volume_capabilities: [block ? { block: {}, access_mode: { mode: 'SINGLE_NODE_WRITER' as const } } : mountCapability(fsType)],
      parameters: { 'csi.storage.k8s.io/fstype': fsType },
    });
  await rejectsWithCode(
    create('xfs-small', 'xfs', 299 * MiB),
    status.INVALID_ARGUMENT,
    /xfs volume must be at least 300 MiB \(314572800 bytes\)/,
  );
  await rejectsWithCode(create('xfs-tiny', 'xfs', 64 * MiB), status.INVALID_ARGUMENT, /at least 300 MiB/);
  await rejectsWithCode(create('btrfs-small', 'btrfs', 100 * MiB), status.INVALID_ARGUMENT, /btrfs volume must be at least 114 MiB/);
  assert.equal((await call(c, 'ListVolumes', {})).entries!.length, 0, 'a refused create leaves nothing');
  // A raw block volume gets no filesystem, so no minimum.
  await create('block-small', 'xfs', 64 * MiB, true);

  for (const fsType of ['xfs', 'btrfs'] as const) {
    const v = (await create(`${fsType}-min`, fsType, FS_MINIMUM_BYTES[fsType])).volume!;
    const pub = await stageAndPublish(t, q.clients, v.volume_id!, fs.dir);
    await pub.release();
  }
});
