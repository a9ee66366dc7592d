// Online expansion of a mounted volume under a live writer, through real quarry processes, in local and shared mode.
import assert from 'node:assert/strict';
import { open, stat, statfs } from 'node:fs/promises';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { describe, test } from 'node:test';
import * as grpc from '@grpc/grpc-js';
import { GiB, MiB } from '../../src/domain/bytes.js';
import { CAP_SYS_RESOURCE, hasCapability } from '../../src/host/capabilities.js';
import { call, type CsiClients } from '../helpers/grpc-client.js';
import { makeScratchFs, type HasAfter } from '../helpers/scratch.js';
import { rejectsWithCode } from '../helpers/quarry-process.js';
import { mountCapability, stageAndPublish, startQuarryOnPool } from '../helpers/snapshot-harness.js';

const FROM = 512 * MiB;
const TO = 1 * GiB;

/** Appends 256 KiB chunks to `path` until stopped; fails the test if any write fails. */
function startWriter(path: string) {
  let stop = false;
  let written = 0;
  const chunk = Buffer.alloc(256 * 1024, 0x5a);
  const done = (async () => {
    const fd = await open(path, 'a');
    try {
      while (!stop) {
        await fd.write(chunk);
        written += chunk.length;
        if (written % (4 * MiB) === 0) await fd.sync();
        await sleep(1);
      }
      await fd.sync();
    } finally {
      await fd.close();
    }
  })();
  return {
    written: () => written,
    async stop() {
      stop = true;
      await done;
      return written;
    },
  };
}

async function fsBytes(path: string): Promise<number> {
  const s = await statfs(path);
  return s.blocks * s.bsize;
}

interface Setup {
  controller: CsiClients;
  node: CsiClients;
  pool: string;
  dir: string;
  shared: boolean;
}

async function setup(t: HasAfter, shared: boolean): Promise<Setup> {
  const fs = await makeScratchFs(t, { fsType: 'xfs', sizeBytes: 4 * GiB });
  const pool = join(fs.mountPath, 'pool');
  if (!shared) {
    const q = await startQuarryOnPool(t, { role: 'all', dir: fs.dir, pool });
    return { controller: q.clients, node: q.clients, pool, dir: fs.dir, shared };
  }
  const controller = await startQuarryOnPool(t, { role: 'controller', dir: fs.dir, pool, shared: true, nodeId: 'ctrl' });
  const node = await startQuarryOnPool(t, { role: 'node', dir: fs.dir, pool, shared: true, nodeId: 'node-1' });
  return { controller: controller.clients, node: node.clients, pool, dir: fs.dir, shared };
}

for (const mode of ['local', 'shared'] as const) {
  describe(`online expansion in ${mode} mode`, () => {
    for (const fsType of ['xfs', 'ext4'] as const) {
      test(`${fsType}: grows a mounted volume while a writer keeps writing`, async (t) => {
        if (fsType === 'ext4' && !(await hasCapability(CAP_SYS_RESOURCE))) {
          t.skip('ext4 grows online only with CAP_SYS_RESOURCE, which this process lacks (resize2fs gets EPERM)');
          return;
        }
        const s = await setup(t, mode === 'shared');
        const c = s.controller.controller;
        const vol = (
          await call(c, 'CreateVolume', {
            name: `grow-${fsType}`,
            capacity_range: { required_bytes: FROM },
            volume_capabilities: [mountCapability()],
            parameters: { 'csi.storage.k8s.io/fstype': fsType },
          })
        ).volume!;
        const id = vol.volume_id!;
        const pub = await stageAndPublish(t, s.node, id, s.dir, s.shared ? { controller: s.controller, nodeId: 'node-1' } : {});
        const sizeBefore = await fsBytes(pub.targetPath);
        assert.ok(sizeBefore < FROM);
        const capBefore = Number((await call(c, 'GetCapacity', {})).available_capacity);

        const writer = startWriter(join(pub.targetPath, 'log.bin'));
        await sleep(200);
        const range = { required_bytes: TO };
        if (s.shared) {
          const res = await call(c, 'ControllerExpandVolume', {
            volume_id: id,
            capacity_range: range,
            volume_capability: mountCapability(),
          });
          assert.equal(Number(res.capacity_bytes), TO);
          assert.equal(res.node_expansion_required, true);
        }
        const writtenAtExpand = writer.written();
        const res = await call(
          s.node.node,
          'NodeExpandVolume',
          {
            volume_id: id,
            volume_path: pub.targetPath,
            staging_target_path: pub.stagingPath,
            capacity_range: range,
            volume_capability: mountCapability(),
          },
          { timeoutMs: 60_000 },
        );
        assert.equal(Number(res.capacity_bytes), TO);
        await sleep(200);
        const total = await writer.stop();
        assert.ok(total > writtenAtExpand, 'the writer kept writing through the expansion');
        assert.equal((await stat(join(pub.targetPath, 'log.bin'))).size, total);

        const sizeAfter = await fsBytes(pub.targetPath);
        assert.ok(sizeAfter > sizeBefore + 400 * MiB, `filesystem grew from ${sizeBefore} to ${sizeAfter}`);
        assert.equal((await stat(join(s.pool, 'volumes', `${id}.img`))).size, TO);
        assert.equal(Number((await call(c, 'ControllerGetVolume', { volume_id: id })).volume!.capacity_bytes), TO);
        const capAfter = Number((await call(c, 'GetCapacity', {})).available_capacity);
        assert.equal(capBefore - capAfter, TO - FROM, 'the pool promises the added size');

        // Repeating the expansion is a no-op; volumes never shrink.
        const again = await call(s.node.node, 'NodeExpandVolume', {
          volume_id: id,
          volume_path: pub.targetPath,
          staging_target_path: pub.stagingPath,
          capacity_range: range,
        });
        assert.equal(Number(again.capacity_bytes), TO);
        if (s.shared) {
          await rejectsWithCode(
            call(c, 'ControllerExpandVolume', { volume_id: id, capacity_range: { required_bytes: FROM, limit_bytes: FROM } }),
            grpc.status.OUT_OF_RANGE,
          );
          await rejectsWithCode(
            call(c, 'ControllerExpandVolume', { volume_id: 'vol-aaaaaaaaaaaaaaaaaaaa', capacity_range: range }),
            grpc.status.NOT_FOUND,
          );
          await rejectsWithCode(call(c, 'ControllerExpandVolume', { volume_id: id }), grpc.status.INVALID_ARGUMENT);
        }
        await pub.release();
        await call(c, 'DeleteVolume', { volume_id: id });
      });
    }

    test('the controller claims EXPAND_VOLUME exactly when it can expand', async (t) => {
      const s = await setup(t, mode === 'shared');
      const caps = (await call(s.controller.controller, 'ControllerGetCapabilities', {})).capabilities!.map((x) => x.rpc?.type);
      assert.equal(caps.includes('EXPAND_VOLUME'), mode === 'shared');
      if (mode === 'local') {
        await rejectsWithCode(
          call(s.controller.controller, 'ControllerExpandVolume', {
            volume_id: 'vol-aaaaaaaaaaaaaaaaaaaa',
            capacity_range: { required_bytes: TO },
          }),
          grpc.status.UNIMPLEMENTED,
        );
      }
    });
  });
}
