/**
 * The bare file work a CreateVolume stands for, without Quarry: a sparse image created, fsynced and
 * renamed into place; a small JSON record written to a temporary file, fsynced and renamed; the
 * directory fsynced. Shared by the create bench (run in the bench's own process) and by the bare
 * grpc-js server's CreateVolume handler (bench/lib/bare-grpc-server.ts), so both baselines do the
 * same work (design: Performance targets).
 */
import { randomBytes } from 'node:crypto';
import { open, rename } from 'node:fs/promises';
import { join } from 'node:path';

export async function bareCreate(dir: string, name: string, sizeBytes: number): Promise<void> {
  const img = join(dir, `${name}.img`);
  const fd = await open(`${img}.partial`, 'wx', 0o600);
  await fd.truncate(sizeBytes);
  await fd.sync();
  await fd.close();
  await rename(`${img}.partial`, img);
  const rec = join(dir, `${name}.json`);
  const tmp = `${rec}.${randomBytes(6).toString('hex')}.tmp`;
  const rf = await open(tmp, 'wx', 0o600);
  await rf.writeFile(JSON.stringify({ name, sizeBytes, state: 'ready', staging: [], publications: [] }, null, 2));
  await rf.sync();
  await rf.close();
  await rename(tmp, rec);
  const d = await open(dir, 'r');
  await d.sync();
  await d.close();
}
