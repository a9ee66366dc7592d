/**
 * Server-streaming calls in the wire layer (src/wire/streaming.ts) against a real grpc-js client
 * over a real unix socket. The handlers are test doubles of the service layer.
 */
import assert from 'node:assert/strict';
import { mkdtemp, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { after, before, test } from 'node:test';
import * as grpc from '@grpc/grpc-js';
import { pino } from 'pino';
import { invalidArgument, notFound } from '../../src/domain/errors.js';
import { startCsiServer, type CsiServer } from '../../src/wire/server.js';
import type { GetMetadataAllocatedResponse, IdentityHandlers, SnapshotMetadataHandlers } from '../../src/wire/types.js';
import { collect, metadataClient, type MetadataMessage } from '../helpers/metadata-client.js';

const SECRET = 'hunter2-STREAM-SECRET';
const RANGES_PER_MESSAGE = 1000;
const MANY = 2000;

const identity: IdentityHandlers = {
  GetPluginInfo: async () => ({ name: 'quarry.test', vendor_version: '0.0.0' }),
  Probe: async () => ({ ready: { value: true } }),
};

const message = (k: number): GetMetadataAllocatedResponse => ({
  block_metadata_type: 'VARIABLE_LENGTH',
  volume_capacity_bytes: 1 << 30,
  block_metadata: Array.from({ length: RANGES_PER_MESSAGE }, (_, i) => ({
    byte_offset: (k * RANGES_PER_MESSAGE + i) * 8192,
    size_bytes: 4096,
  })),
});

let dir: string;
let server: CsiServer;
const lines: string[] = [];
let produced = 0;
let stoppedBy: string | undefined;

const records = () =>
  lines
    .flatMap((l) => l.split('\n'))
    .filter(Boolean)
    .map((l) => JSON.parse(l) as Record<string, unknown>)
    .filter((r) => r.msg === 'rpc');

const snapshotMetadata: SnapshotMetadataHandlers = {
  // snapshot_id picks the behaviour; the rest of the request is echoed in errors to test the scrubber.
  GetMetadataAllocated: async function* (req, ctx) {
    if (req.snapshot_id === 'fail-first') throw notFound(`no snapshot ${req.snapshot_id}; secrets were ${JSON.stringify(req.secrets)}`);
    produced = 0;
    stoppedBy = undefined;
    try {
      for (let k = 0; k < MANY; k++) {
        if (req.snapshot_id === 'fail-later' && k === 3) throw invalidArgument('went wrong after three messages');
        produced++;
        yield message(k);
      }
    } finally {
      stoppedBy = ctx.signal.aborted ? 'abort' : 'end';
    }
  },
};

before(async () => {
  dir = await mkdtemp(path.join(os.tmpdir(), 'quarry-stream-'));
  server = await startCsiServer({
    endpoint: `unix://${path.join(dir, 'csi.sock')}`,
    logger: pino({ level: 'debug' }, { write: (chunk: string) => void lines.push(chunk) }),
    services: { Identity: identity, SnapshotMetadata: snapshotMetadata },
  });
});
after(async () => {
  await server.close(1000);
  await rm(dir, { recursive: true, force: true });
});

test('a long stream arrives whole and in order, with one rpc log line counting its messages', async (t) => {
  const client = metadataClient(t, server.socketPath);
  const got: MetadataMessage[] = await collect(client, 'GetMetadataAllocated', { snapshot_id: 'many' });
  assert.equal(got.length, MANY);
  assert.equal(Number(got[MANY - 1]!.block_metadata[RANGES_PER_MESSAGE - 1]!.byte_offset), (MANY * RANGES_PER_MESSAGE - 1) * 8192);
  const line = records().find((r) => r.snapshot_id === 'many');
  assert.equal(line?.code, 'OK');
  assert.equal(line?.messages, String(MANY));
});

test('an error before the first message is the status, scrubbed of secrets, in answer and log', async (t) => {
  const client = metadataClient(t, server.socketPath);
  const err = await collect(client, 'GetMetadataAllocated', { snapshot_id: 'fail-first', secrets: { key: SECRET } }).then(
    () => assert.fail('must fail'),
    (e: grpc.ServiceError) => e,
  );
  assert.equal(err.code, grpc.status.NOT_FOUND);
  assert.ok(!err.details.includes(SECRET), err.details);
  assert.ok(!lines.join('').includes(SECRET), 'the log is scrubbed');
  assert.equal(records().find((r) => r.snapshot_id === 'fail-first')?.code, 'NOT_FOUND');
});

test('an error after some messages ends the stream with that status, after those messages', async (t) => {
  const client = metadataClient(t, server.socketPath);
  const seen: number[] = [];
  const stream = client.GetMetadataAllocated({ snapshot_id: 'fail-later' });
  stream.on('data', (m: MetadataMessage) => seen.push(m.block_metadata.length));
  const err = await new Promise<grpc.ServiceError>((resolve, reject) => {
    stream.on('error', resolve);
    stream.on('end', () => reject(new Error('the stream must fail')));
  });
  assert.equal(err.code, grpc.status.INVALID_ARGUMENT);
  assert.equal(seen.length, 3);
  assert.equal(records().find((r) => r.snapshot_id === 'fail-later')?.messages, '3');
});

test('the request bounds apply before the handler runs', async (t) => {
  const client = metadataClient(t, server.socketPath);
  await assert.rejects(collect(client, 'GetMetadataAllocated', { snapshot_id: 'x'.repeat(300) }), (e: grpc.ServiceError) => {
    assert.equal(e.code, grpc.status.INVALID_ARGUMENT);
    assert.match(e.details, /snapshot_id is 300 bytes/);
    return true;
  });
});

test('a client that stops reading holds the handler back; cancelling stops it', async (t) => {
  const client = metadataClient(t, server.socketPath);
  await collect(client, 'GetMetadataAllocated', { snapshot_id: 'slow-reader' }, { firstOnly: true });
  // Wait for the server to see the cancel: the handler's finally block runs.
  for (let i = 0; i < 200 && stoppedBy === undefined; i++) await new Promise((r) => setTimeout(r, 25));
  assert.equal(stoppedBy, 'abort', 'the handler was stopped by the cancel, not run to its end');
  assert.ok(produced < MANY, `backpressure: only ${produced} of ${MANY} messages were produced`);
  const line = records().find((r) => r.snapshot_id === 'slow-reader');
  assert.equal(line?.code, 'CANCELLED');
});

test('a streaming method with no handler is UNIMPLEMENTED', async (t) => {
  const client = metadataClient(t, server.socketPath);
  await assert.rejects(collect(client, 'GetMetadataDelta', { base_snapshot_id: 'a', target_snapshot_id: 'b' }), (e: grpc.ServiceError) => {
    assert.equal(e.code, grpc.status.UNIMPLEMENTED);
    return true;
  });
});
