// ControllerModifyVolume (VolumeAttributesClass) on real pools (design: Volume attributes): thin ↔ thick
// changes what the image holds on disk and what the pool promises, never the data.
import assert from 'node:assert/strict';
import { randomFillSync } from 'node:crypto';
import { open, readFile, stat } from 'node:fs/promises';
import { join } from 'node:path';
import { describe, test } from 'node:test';
import * as grpc from '@grpc/grpc-js';
import { execa } from 'execa';
import { MiB } from '../../src/domain/bytes.js';
import { call } from '../helpers/grpc-client.js';
import { rejectsWithCode, startQuarry } from '../helpers/quarry-process.js';
import { makeScratchFs } from '../helpers/scratch.js';
import { sha256File } from '../helpers/sha256.js';
import { mountCapability, startQuarryOnPool } from '../helpers/snapshot-harness.js';

const allocated = async (path: string) => (await stat(path)).blocks * 512;
const recordOf = async (pool: string, id: string) =>
  JSON.parse(await readFile(join(pool, 'volumes', `${id}.json`), 'utf8')) as { provisioning: string; parameters: Record<string, string> };

describe('ControllerModifyVolume in shared mode', () => {
  // XFS too: there `fallocate --dig-holes` skips preallocated extents (SEEK_DATA calls them holes).
  for (const fsType of ['ext4', 'xfs'] as const)
    test(`thin → thick allocates the whole image, thick → thin gives zeroed blocks back; data is kept (${fsType} pool)`, async (t) => {
      const fs = await makeScratchFs(t, { fsType, sizeBytes: 512 * MiB });
      const pool = join(fs.mountPath, 'pool');
      const q = await startQuarryOnPool(t, { role: 'controller', dir: fs.dir, pool, shared: true });
      const c = q.clients.controller;
      const caps = (await call(c, 'ControllerGetCapabilities', {})).capabilities.map((x) => x.rpc!.type);
      assert.ok(caps.includes('MODIFY_VOLUME'), 'shared mode advertises MODIFY_VOLUME');

      const id = (
        await call(c, 'CreateVolume', {
          name: 'v',
          capacity_range: { required_bytes: 128 * MiB },
          volume_capabilities: [mountCapability()],
        })
      ).volume!.volume_id!;
      const image = join(pool, 'volumes', `${id}.img`);
      // Some data in the middle of the image, as a filesystem would leave it.
      const fd = await open(image, 'r+');
      await fd.write(randomFillSync(Buffer.alloc(4 * MiB)), 0, 4 * MiB, 32 * MiB);
      await fd.sync();
      await fd.close();
      const digest = await sha256File(image);
      assert.ok((await allocated(image)) < 8 * MiB, 'a new thin image holds only its data');

      await call(c, 'ControllerModifyVolume', { volume_id: id, mutable_parameters: { provisioning: 'thick' } }, { timeoutMs: 120_000 });
      assert.ok((await allocated(image)) >= 128 * MiB, `thick: the whole image is allocated (${await allocated(image)})`);
      assert.equal((await recordOf(pool, id)).provisioning, 'thick');
      assert.equal(await sha256File(image), digest, 'making it thick kept the data');
      // Idempotent: the same change again succeeds and changes nothing.
      await call(c, 'ControllerModifyVolume', { volume_id: id, mutable_parameters: { provisioning: 'thick' } });

      // The hashing above read the image into the page cache, which makes XFS count its preallocated
      // extents as data; a volume left alone a while has no cached pages. Drop them, as time does.
      await execa('dd', [`if=${image}`, 'iflag=nocache', 'count=0', 'status=none'], { timeout: 30_000 });
      await call(c, 'ControllerModifyVolume', { volume_id: id, mutable_parameters: { provisioning: 'thin' } }, { timeoutMs: 120_000 });
      const back = await allocated(image);
      assert.ok(back < 8 * MiB && back >= 4 * MiB, `thin: the zeroed blocks went back, the data stayed allocated (${back})`);
      assert.equal((await recordOf(pool, id)).provisioning, 'thin');
      assert.equal((await recordOf(pool, id)).parameters.provisioning, 'thin');
      assert.equal(await sha256File(image), digest, 'making it thin kept the data');

      await rejectsWithCode(
        call(c, 'ControllerModifyVolume', { volume_id: id, mutable_parameters: { iops: '100' } }),
        grpc.status.INVALID_ARGUMENT,
        /"iops"/,
      );
      await rejectsWithCode(
        call(c, 'ControllerModifyVolume', { volume_id: id, mutable_parameters: { pool: 'other' } }),
        grpc.status.INVALID_ARGUMENT,
        /"pool" cannot be modified/,
      );
      await rejectsWithCode(
        call(c, 'ControllerModifyVolume', { volume_id: id, mutable_parameters: { provisioning: 'fat' } }),
        grpc.status.INVALID_ARGUMENT,
        /provisioning "fat"/,
      );
      await rejectsWithCode(
        call(c, 'ControllerModifyVolume', { volume_id: 'vol-aaaaaaaaaaaaaaaaaaaa', mutable_parameters: { provisioning: 'thin' } }),
        grpc.status.NOT_FOUND,
      );
      await rejectsWithCode(
        call(c, 'ControllerModifyVolume', { mutable_parameters: { provisioning: 'thin' } }),
        grpc.status.INVALID_ARGUMENT,
      );
      await call(c, 'DeleteVolume', { volume_id: id });

      // A VolumeAttributesClass at creation: the volume is born thick.
      const born = (
        await call(c, 'CreateVolume', {
          name: 'born-thick',
          capacity_range: { required_bytes: 32 * MiB },
          volume_capabilities: [mountCapability()],
          mutable_parameters: { provisioning: 'thick' },
        })
      ).volume!.volume_id!;
      assert.ok((await allocated(join(pool, 'volumes', `${born}.img`))) >= 32 * MiB);
      await call(c, 'DeleteVolume', { volume_id: born });
    });

  test('thin → thick respects the pool: refused when the space is not there, and the volume stays thin', async (t) => {
    const fs = await makeScratchFs(t, { fsType: 'ext4', sizeBytes: 256 * MiB });
    const pool = join(fs.mountPath, 'pool');
    await import('node:fs/promises').then((m) => m.mkdir(pool));
    const q = await startQuarry(t, {
      role: 'controller',
      dir: fs.dir,
      args: ['--shared', '--pool', pool, '--overprovisioning', '4', '--log-level', 'warn'],
    });
    const c = q.clients.controller;
    const id = (
      await call(c, 'CreateVolume', {
        name: 'big',
        capacity_range: { required_bytes: 512 * MiB },
        volume_capabilities: [mountCapability()],
      })
    ).volume!.volume_id!;
    await rejectsWithCode(
      call(c, 'ControllerModifyVolume', { volume_id: id, mutable_parameters: { provisioning: 'thick' } }),
      grpc.status.RESOURCE_EXHAUSTED,
      /no space/,
    );
    assert.equal((await recordOf(pool, id)).provisioning, 'thin');
    assert.ok((await allocated(join(pool, 'volumes', `${id}.img`))) < 8 * MiB, 'nothing was allocated');
    await call(c, 'DeleteVolume', { volume_id: id });
  });

  test('local mode does not offer it: the central resizer cannot reach a node pool', async (t) => {
    const fs = await makeScratchFs(t, { fsType: 'ext4', sizeBytes: 128 * MiB });
    const q = await startQuarryOnPool(t, { role: 'controller', dir: fs.dir, pool: join(fs.mountPath, 'pool') });
    const caps = (await call(q.clients.controller, 'ControllerGetCapabilities', {})).capabilities.map((x) => x.rpc!.type);
    assert.ok(!caps.includes('MODIFY_VOLUME'));
    await rejectsWithCode(
      call(q.clients.controller, 'ControllerModifyVolume', { volume_id: 'vol-aaaaaaaaaaaaaaaaaaaa', mutable_parameters: {} }),
      grpc.status.UNIMPLEMENTED,
    );
  });
});
