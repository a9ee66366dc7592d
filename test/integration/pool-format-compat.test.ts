/**
 * On-disk compatibility: a pool written by Quarry 0.1.0 (test/fixtures/pool-format-1, pool and
 * record format 1) is served by the current code: listed, found again by name, snapshotted
 * object intact, and deletable. (design: Records)
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { cp, readFile, truncate, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { call } from '../helpers/grpc-client.js';
import { makeTempDir, onCleanup } from '../helpers/scratch.js';
import { scratchPoolDir, startQuarry, type QuarryProcess } from '../helpers/quarry-process.js';

const FIXTURE = fileURLToPath(new URL('../../../test/fixtures/pool-format-1/', import.meta.url));
const VOLUME = 'vol-jmefdttvc2de2vufns7o';
const SNAPSHOT = 'snap-2ac7fwig2bnfb2q2bjoa';
const MiB16 = 16 * 1024 * 1024;
const RW = [{ mount: { fs_type: 'xfs', mount_flags: [] }, access_mode: { mode: 'SINGLE_NODE_WRITER' } }] as any[];

describe('a format-1 pool written by Quarry 0.1.0', () => {
  const suite = { after };
  onCleanup(suite, () => undefined);
  let pool: string;
  let q: QuarryProcess;

  before(async () => {
    ({ path: pool } = await scratchPoolDir(suite, { fsType: 'xfs' }));
    await cp(FIXTURE, pool, { recursive: true, filter: (src) => !src.endsWith('README.md') });
    for (const img of [join(pool, 'volumes', `${VOLUME}.img`), join(pool, 'snapshots', `${SNAPSHOT}.img`)]) {
      await writeFile(img, '');
      await truncate(img, MiB16);
    }
    const sock = await makeTempDir(suite, 'sock');
    q = await startQuarry(suite, { role: 'controller', dir: sock, args: ['--nodeid', 'fixture-node', '--pool', pool] });
  });

  test('its volume and snapshot are listed as they were written', async () => {
    const vols = await call(q.clients.controller, 'ListVolumes', {} as any);
    const v = vols.entries.find((e) => e.volume!.volume_id === VOLUME)?.volume;
    assert.ok(v, `listed: ${vols.entries.map((e) => e.volume!.volume_id)}`);
    assert.equal(Number(v.capacity_bytes), MiB16);
    const snaps = await call(q.clients.controller, 'ListSnapshots', {} as any);
    const s = snaps.entries.find((e) => e.snapshot!.snapshot_id === SNAPSHOT)?.snapshot;
    assert.ok(s, 'snapshot listed');
    assert.equal(s.source_volume_id, VOLUME);
    assert.equal(s.ready_to_use, true);
  });

  test('a retried CreateVolume of the same name finds the old volume, not a new one', async () => {
    const v = (
      await call(
        q.clients.controller,
        'CreateVolume',
        {
          name: 'pvc-fixture-format-1',
          volume_capabilities: RW,
          capacity_range: { required_bytes: MiB16 },
          parameters: { provisioning: 'thin' },
        } as any,
        { timeoutMs: 60_000 },
      )
    ).volume!;
    assert.equal(v.volume_id, VOLUME);
  });

  test('the current code deletes old-format objects, and leaves the marker at format 1', async () => {
    await call(q.clients.controller, 'DeleteSnapshot', { snapshot_id: SNAPSHOT } as any, { timeoutMs: 60_000 });
    await call(q.clients.controller, 'DeleteVolume', { volume_id: VOLUME } as any, { timeoutMs: 60_000 });
    const vols = await call(q.clients.controller, 'ListVolumes', {} as any);
    assert.ok(!vols.entries.some((e) => e.volume!.volume_id === VOLUME));
    assert.equal(JSON.parse(await readFile(join(pool, 'quarry-pool.json'), 'utf8')).format, 1);
  });
});
