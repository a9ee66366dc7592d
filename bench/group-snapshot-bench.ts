/**
 * What a consistent group snapshot costs (design: Group snapshots): two 10 GiB xfs volumes, each
 * mounted through a loop device and holding a 1 GiB file, on a reflink pool. Compares the group
 * (both frozen, both reflinked, then both thawed) with two single snapshots taken one after the
 * other (each frozen for its own copy, so not one instant). Drives storage/group-snapshots.ts and
 * storage/snapshots.ts, the code the RPCs run, without gRPC. Run by bench/run-all.ts.
 */
import { mkdir, open } from 'node:fs/promises';
import { join } from 'node:path';
import { bytes, GiB, MiB } from '../src/domain/bytes.js';
import { groupSnapshotIdForName, snapshotIdForName, volumeIdForName, type SnapshotId, type VolumeId } from '../src/domain/ids.js';
import { attachLoop, detachLoop } from '../src/host/losetup.js';
import { makeFilesystem } from '../src/host/mkfs.js';
import { mount, unmount } from '../src/host/mount.js';
import { createGroupSnapshot, discardMembers, groupMembers } from '../src/storage/group-snapshots.js';
import { ImagePool } from '../src/storage/image-pool.js';
import { createSnapshot, deleteSnapshot } from '../src/storage/snapshots.js';
import { makeScratchFs } from '../test/helpers/scratch.js';
import type { Section } from './lib/report.js';
import { withScope } from './lib/scope.js';
import { summarize, timed } from './lib/stats.js';

const NODE = 'bench-node';
const REPS = 7;

export async function groupSnapshotBench(): Promise<Section> {
  return withScope(async (scope) => {
    const fs = await makeScratchFs(scope, { fsType: 'xfs', sizeBytes: 100 * GiB, reflink: true });
    const root = join(fs.mountPath, 'pool');
    await mkdir(root);
    const pool = await ImagePool.open('bench', root, { overprovisioning: 10 });
    scope.after(() => pool.close());
    const ids: VolumeId[] = [];
    for (const name of ['bench-data', 'bench-wal']) {
      const id = volumeIdForName(name);
      await pool.createVolume({
        id,
        name,
        sizeBytes: bytes(10 * GiB),
        fsType: 'xfs',
        provisioning: 'thin',
        accessTypes: ['mount'],
        requestKey: name,
        parameters: {},
      });
      const { device } = await attachLoop(pool.volumeImagePath(id), { directIo: true });
      scope.after(() => detachLoop(device));
      const mnt = join(fs.dir, name);
      await mkdir(mnt);
      await makeFilesystem(device, 'xfs', { options: ['-s', 'size=4096'] });
      await mount({ source: device, target: mnt, fsType: 'xfs', options: ['nouuid'] });
      scope.after(() => unmount(mnt));
      const fd = await open(join(mnt, 'data.bin'), 'w');
      const buf = Buffer.alloc(MiB, 0xa5);
      for (let i = 0; i < 1024; i++) await fd.write(buf);
      await fd.sync();
      await fd.close();
      // Recorded as staged on this host, so the copies freeze it, as CSI staging would record it.
      await pool.updateVolume(id, (v) => ({ ...v, staging: [{ nodeId: NODE, stagingPath: mnt, accessType: 'mount', device }] }));
      ids.push(id);
    }
    const opts = { nodeId: NODE, holder: 'bench' };
    const group: number[] = [];
    const sequential: number[] = [];
    for (let i = 0; i < REPS; i++) {
      const name = `bench-group-${i}`;
      const gid = groupSnapshotIdForName(name);
      const [, g] = await timed(() => createGroupSnapshot(pool, { id: gid, name, sourceVolumeIds: ids }, opts));
      group.push(g);
      await discardMembers(
        pool,
        (await groupMembers(pool, gid)).map((m) => m.id as SnapshotId),
      );
      const [, s] = await timed(async () => {
        for (const v of ids)
          await createSnapshot(
            pool,
            { id: snapshotIdForName(`${name}-${v}`), name: `${name}-${v}`, sourceVolumeId: v, parameters: {} },
            opts,
          );
      });
      sequential.push(s);
      for (const v of ids) await deleteSnapshot(pool, snapshotIdForName(`${name}-${v}`));
    }
    for (const v of ids) await pool.updateVolume(v, (r) => ({ ...r, staging: [] }));
    scope.after(async () => {
      for (const v of ids) await pool.deleteVolume(v).catch(() => undefined);
    });
    const row = (label: string, samples: number[]) => {
      const s = summarize(samples);
      process.stderr.write(`${label}: ${s.medianMs.toFixed(1)} ms\n`);
      return `| ${label} | ${s.medianMs.toFixed(1)} | ${s.minMs.toFixed(1)} | ${s.maxMs.toFixed(1)} |`;
    };
    const body = `Two 10 GiB xfs volumes, each mounted through a loop device (direct I/O) and holding a 1 GiB file, in one
reflink xfs pool. Median of ${REPS} runs, storage layer (the code the RPCs run, without gRPC). The group freezes
both filesystems (each freeze recorded first), reflinks both images, then thaws both: writers of the first volume
are blocked for most of the group's time. The "two single snapshots" row is what a driver that copies members in
turn does; it is not one instant across the volumes.

| two volumes | median ms | min ms | max ms |
| --- | ---: | ---: | ---: |
${row('group snapshot (one instant)', group)}
${row('two single snapshots in turn (two instants)', sequential)}
`;
    return { title: 'Group snapshot of two mounted volumes (reflink pool)', body };
  });
}
