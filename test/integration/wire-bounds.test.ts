/**
 * Bounded requests against a real `quarry node` started with the container image's heap flags
 * (read from the Dockerfile): a flood of oversized requests is refused without echoing the
 * input, and the process stays up and answers Probe afterwards (design: Requests).
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdir, readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { status } from '@grpc/grpc-js';
import { call } from '../helpers/grpc-client.js';
import { startQuarry } from '../helpers/quarry-process.js';
import { makeTempDir } from '../helpers/scratch.js';

const dockerfile = await readFile(new URL('../../../Dockerfile', import.meta.url), 'utf8');
const IMAGE_NODE_OPTIONS = /^ENV NODE_OPTIONS="([^"]+)"/m.exec(dockerfile)?.[1];

/** No error or log line may carry more than this much of anything. */
const MAX_ECHO = 2048;
const FLOOD = 32;

async function settled<T>(ps: Promise<T>[]) {
  const all = await Promise.allSettled(ps);
  return all.map((r) => (r.status === 'rejected' ? (r.reason as Error & { code: number; details: string }) : undefined));
}

test('a flood of oversized requests under the image heap flags is refused, clipped, and the process stays up', async (t) => {
  assert.ok(IMAGE_NODE_OPTIONS?.includes('--max-old-space-size'), `no heap flags found in the Dockerfile: ${IMAGE_NODE_OPTIONS}`);
  const dir = await makeTempDir(t, 'wire-bounds');
  const pool = join(dir, 'pool');
  await mkdir(pool);
  const q = await startQuarry(t, {
    role: 'node',
    dir,
    args: ['--nodeid', 'n1', '--pool', pool, '--log-level', 'info'],
    env: { NODE_OPTIONS: IMAGE_NODE_OPTIONS! },
  });
  let exit: unknown;
  void q.exited.then((e) => (exit = e));
  const node = q.clients.node;
  const huge = 'v'.repeat(3.5 * 1024 * 1024);
  const big = 'w'.repeat(200 * 1024);

  const hugeIds = await settled(
    Array.from({ length: FLOOD }, () => call(node, 'NodeGetVolumeStats', { volume_id: huge, volume_path: dir }, { timeoutMs: 30_000 })),
  );
  const bigIds = await settled(
    Array.from({ length: FLOOD }, () => call(node, 'NodeGetVolumeStats', { volume_id: big, volume_path: dir }, { timeoutMs: 30_000 })),
  );
  const bigPath = await settled([call(node, 'NodeUnpublishVolume', { volume_id: 'vol-aaaaaaaaaaaaaaaaaaaa', target_path: `/${big}` })]);
  const bigMap = await settled([
    call(node, 'NodeStageVolume', {
      volume_id: 'vol-aaaaaaaaaaaaaaaaaaaa',
      staging_target_path: join(dir, 'staging'),
      volume_capability: { mount: { fs_type: 'ext4', mount_flags: [] }, access_mode: { mode: 'SINGLE_NODE_WRITER' } },
      volume_context: Object.fromEntries(Array.from({ length: 100 }, (_, i) => [`key-${i}`, 'x'.repeat(100)])),
    }),
  ]);

  await new Promise((r) => setTimeout(r, 100)); // let an exit event arrive
  assert.equal(exit, undefined, `quarry died (${JSON.stringify(exit)}): ${q.stderr().slice(-1500)}`);
  for (const err of hugeIds) {
    assert.ok(err, 'a 3.5 MiB volume_id was accepted');
    assert.equal(err.code, status.RESOURCE_EXHAUSTED, `3.5 MiB request: ${err.code} ${err.details?.slice(0, 200)}`);
    assert.ok(err.details.length <= MAX_ECHO, `error of ${err.details.length} characters`);
  }
  for (const err of [...bigIds, ...bigPath, ...bigMap]) {
    assert.ok(err, 'an oversized field was accepted');
    assert.equal(err.code, status.INVALID_ARGUMENT, `${err.code} ${err.details?.slice(0, 200)}`);
    assert.ok(err.details.length <= MAX_ECHO, `error of ${err.details.length} characters`);
  }
  assert.match(bigIds[0]!.details, /volume_id .*204800 bytes.*at most 128/);
  assert.match(bigPath[0]!.details, /target_path .*at most 4096/);
  assert.match(bigMap[0]!.details, /volume_context .*at most 4096 bytes/);

  // Still serving, and no log line echoed the input.
  assert.equal((await call(q.clients.identity, 'Probe', {})).ready?.value, true);
  for (const line of q.stderr().split('\n').concat(q.stdout().split('\n'))) {
    assert.ok(line.length <= 2 * MAX_ECHO, `a log line of ${line.length} characters: ${line.slice(0, 300)}`);
  }
});
