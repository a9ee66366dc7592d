/**
 * The floor under a CreateSnapshot of a volume in use: the least any driver can do here and still
 * keep spec §4 (a freeze recorded durably before it happens) and answer only a snapshot that is
 * durable. Done with bare tools and node:fs on the same mount, image and pool, no Quarry:
 *
 *   record step (the freeze marker), beside it the kept freezer's open → FIFREEZE → FICLONE in this
 *   process → FITHAW beside the copy's fsync → one directory fsync
 *
 * plus, measured apart, one gRPC round trip to a bare grpc-js server after the same idle. The
 * freeze and thaw go through the same kept xfs_io process Quarry uses (host/freezer-session), so the
 * floor pays no fork inside the frozen window either; Quarry's own copy is the same FICLONE
 * (fs.copyFile with COPYFILE_FICLONE_FORCE), so unlike the `cp` of the bare-tools baseline the
 * floor pays no copy fork.
 */
import { constants } from 'node:fs';
import { copyFile, open, rename, rm } from 'node:fs/promises';
import { join } from 'node:path';
import { openFreezer } from '../../src/host/freezer-session.js';
import { call, type CsiClients } from '../../src/wire/client.js';
import { timed } from './stats.js';

/** A small file written and fsynced, renamed into place, its directory fsynced: one record step. */
export async function recordStep(dir: string, name: string): Promise<void> {
  const tmp = join(dir, `.${name}.tmp`);
  const fd = await open(tmp, 'w');
  try {
    await fd.writeFile('{"bench":true}\n');
    await fd.sync();
  } finally {
    await fd.close();
  }
  await rename(tmp, join(dir, name));
  await syncPath(dir);
}

export async function syncPath(path: string): Promise<void> {
  const fd = await open(path, 'r');
  try {
    await fd.sync();
  } finally {
    await fd.close();
  }
}

/** One floor run (see the module comment); returns its time in ms. Leaves nothing behind. */
export async function floorSnapshot(staging: string, image: string, poolDir: string): Promise<number> {
  const dst = join(poolDir, 'floor-snapshot.img');
  try {
    const [, t] = await timed(async () => {
      const [freezer] = await Promise.all([openFreezer(staging, { lifetimeMs: 60_000 }), recordStep(poolDir, 'floor-marker.json')]);
      try {
        await freezer.freeze();
        const failure = await copyFile(image, dst, constants.COPYFILE_FICLONE_FORCE).then(
          () => undefined,
          (err: unknown) => ({ err }),
        );
        const thawed = freezer.thaw();
        if (failure) {
          await thawed;
          throw failure.err;
        }
        await Promise.all([thawed, syncPath(dst)]);
        await syncPath(poolDir);
      } finally {
        await freezer.close();
      }
    });
    return t;
  } finally {
    await rm(dst, { force: true });
    await rm(join(poolDir, 'floor-marker.json'), { force: true });
  }
}

/** One Probe round trip, in ms, as the client sees it. */
export async function roundTrip(clients: CsiClients): Promise<number> {
  return (await timed(() => call(clients.identity, 'Probe', {})))[1];
}
