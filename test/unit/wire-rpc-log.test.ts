import { test } from 'node:test';
import assert from 'node:assert/strict';
import { status } from '@grpc/grpc-js';
import { pino } from 'pino';
import { csiProto, csiType } from '../../src/wire/proto.js';
import { redact } from '../../src/wire/redact.js';
import { logRpc, rpcIds } from '../../src/wire/rpc-log.js';

const { root } = csiProto();

function capture() {
  const lines: string[] = [];
  const logger = pino({ level: 'debug' }, { write: (s: string) => void lines.push(s) });
  return { logger, json: () => lines.map((l) => JSON.parse(l) as Record<string, unknown>) };
}

test('rpcIds picks IDs, names and paths from the redacted request, nothing else', () => {
  const req = {
    name: 'pvc-1',
    parameters: { pool: 'p' },
    secrets: { password: 'hunter2-SECRET' },
    volume_content_source: { snapshot: { snapshot_id: 'snap-abc' }, type: 'snapshot' },
  };
  const ids = rpcIds(redact(csiType(root, 'CreateVolumeRequest'), req));
  assert.deepEqual(ids, { name: 'pvc-1', content_source_snapshot_id: 'snap-abc' });
  const stage = rpcIds(
    redact(csiType(root, 'NodeStageVolumeRequest'), {
      volume_id: 'vol-1',
      staging_target_path: '/var/lib/kubelet/x',
      publish_context: { a: 'b' },
      secrets: { k: 'v-secret' },
    }),
  );
  assert.deepEqual(stage, { volume_id: 'vol-1', staging_target_path: '/var/lib/kubelet/x' });
});

test('one line per RPC with method, ids, duration and code name; error only on failure', () => {
  const { logger, json } = capture();
  logRpc(logger, { service: 'Node', method: 'NodeGetInfo', code: status.OK, durationMs: 1.23456, ids: {} });
  logRpc(logger, {
    service: 'Controller',
    method: 'DeleteVolume',
    code: status.NOT_FOUND,
    durationMs: 2,
    ids: { volume_id: 'v' },
    error: 'gone',
  });
  logRpc(logger, { service: 'Controller', method: 'CreateVolume', code: status.INTERNAL, durationMs: 3, ids: {}, error: 'boom' });
  const [ok, nf, internal] = json();
  assert.deepEqual(
    { method: ok!.method, service: ok!.service, code: ok!.code, duration_ms: ok!.duration_ms, level: ok!.level, error: ok!.error },
    { method: 'NodeGetInfo', service: 'Node', code: 'OK', duration_ms: 1.235, level: 30, error: undefined },
  );
  assert.equal(nf!.code, 'NOT_FOUND');
  assert.equal(nf!.error, 'gone');
  assert.equal(nf!.volume_id, 'v');
  assert.equal(nf!.level, 40);
  assert.equal(internal!.level, 50);
});
