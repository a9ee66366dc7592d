// A thick volume keeps its preallocation once staged. Found by the real-cluster suite: a staged
// thick ext4 lost ~20 MiB of its allocation, because the kernel's lazy inode-table initialiser
// zeroes with WRITE_ZEROES, which a loop device turns into holes punched in the image.
import { after, test } from 'node:test';
import * as assert from 'node:assert/strict';
import { stat } from 'node:fs/promises';
import { setTimeout as sleep } from 'node:timers/promises';
import { MiB } from '../../src/domain/bytes.js';
import { run } from '../../src/host/exec.js';
import { findLoopsByBackingFile } from '../../src/host/losetup.js';
import { capability, deleteVolume, stage, startCluster, unstage, volumePaths } from '../helpers/csi-flow.js';
import { call } from '../helpers/grpc-client.js';
import { assertNoLeaks } from '../helpers/scratch.js';

after(assertNoLeaks);

const SIZE = 512 * MiB;

test('a staged thick ext4 volume keeps every preallocated byte, and its inode tables are zeroed at mkfs', async (t) => {
  const c = await startCluster(t);
  const res = await call(c.ctl.controller, 'CreateVolume', {
    name: 'thick-ext4',
    capacity_range: { required_bytes: SIZE },
    volume_capabilities: [capability('ext4')],
    parameters: { 'csi.storage.k8s.io/fstype': 'ext4', provisioning: 'thick' },
  } as never);
  const id = (res as { volume: { volume_id: string } }).volume.volume_id;
  const allocated = async () => (await stat(c.imagePath(id))).blocks * 512;
  assert.ok((await allocated()) >= SIZE, 'thick image is fully allocated before staging');

  const { staging } = await volumePaths(c, 'thick');
  await stage(c, id, staging, 'ext4');
  const device = (await findLoopsByBackingFile(c.imagePath(id)))[0]!.device;
  const groups = (await run('dumpe2fs', [device])).stdout.split('\n').filter((l) => /^Group \d+:/.test(l));
  assert.ok(groups.length > 0, 'dumpe2fs lists the block groups');
  for (const g of groups) assert.match(g, /ITABLE_ZEROED/, `inode table left for the kernel to zero: ${g}`);

  // The kernel's initialiser starts within seconds of a mount when it has work; give it the chance.
  await sleep(8_000);
  assert.ok((await allocated()) >= SIZE, `staged thick image lost allocation: ${await allocated()} of ${SIZE} bytes`);

  await unstage(c, id, staging);
  await deleteVolume(c, id);
});
