/**
 * Prometheus metrics of a real `quarry controller` on a loop-mounted XFS pool: RPC counters
 * and latencies by method and code, pool gauges that agree with GetCapacity and the
 * filesystem, default process metrics, and a port that closes on SIGTERM.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { statfs } from 'node:fs/promises';
import { createServer, type AddressInfo } from 'node:net';
import { status } from '@grpc/grpc-js';
import { MiB } from '../../src/domain/bytes.js';
import { volumeIdForName } from '../../src/domain/ids.js';
import { call } from '../helpers/grpc-client.js';
import { makeTempDir, onCleanup } from '../helpers/scratch.js';
import { rejectsWithCode, runQuarry, scratchPoolDir, startQuarry, type QuarryProcess } from '../helpers/quarry-process.js';

const RW = [{ mount: { fs_type: '', mount_flags: [] }, access_mode: { mode: 'SINGLE_NODE_WRITER' } }] as any[];

type Samples = Map<string, number>;

/** `name{a="x",b="y"} 1` lines, keyed by name and labels as printed (prom-client sorts nothing: keys use its order). */
function parseSamples(text: string): Samples {
  const out: Samples = new Map();
  for (const line of text.split('\n')) {
    if (!line || line.startsWith('#')) continue;
    const m = /^([a-zA-Z_:][\w:]*)(\{.*\})? (\S+)$/.exec(line);
    assert.ok(m, `not a sample line: ${line}`);
    out.set(`${m[1]}${m[2] ?? ''}`, Number(m[3]));
  }
  return out;
}

const sample = (s: Samples, key: string): number => {
  const v = s.get(key);
  assert.notEqual(
    v,
    undefined,
    `no sample ${key}; have: ${[...s.keys()].filter((k) => k.startsWith('quarry_rpc_total') || k.includes('pool')).join(', ')}`,
  );
  return v!;
};

/** The address from the `metrics listening` JSON log line. */
function metricsAddress(q: QuarryProcess): string {
  for (const line of q.stdout().split('\n')) {
    if (!line.includes('metrics listening')) continue;
    return (JSON.parse(line) as { address: string }).address;
  }
  throw new Error(`no "metrics listening" line in stdout: ${q.stdout()}`);
}

describe('metrics of quarry controller', () => {
  const suite = { after };
  onCleanup(suite, () => undefined);
  let q: QuarryProcess;
  let pool: string;
  let base: string;

  before(async () => {
    const sock = await makeTempDir(suite, 'sock');
    ({ path: pool } = await scratchPoolDir(suite, { fsType: 'xfs' }));
    q = await startQuarry(suite, {
      role: 'controller',
      dir: sock,
      args: ['--nodeid', 'n1', '--pool', pool, '--overprovisioning', '2', '--metrics-addr', '127.0.0.1:0'],
    });
    await q.waitForOutput(/"msg":"metrics listening"/);
    base = `http://${metricsAddress(q)}`;
    assert.match(base, /^http:\/\/127\.0\.0\.1:[1-9]\d*$/);
  });

  test('counts RPCs by method and code, and pool gauges match GetCapacity and the filesystem', async () => {
    const created = await call(
      q.clients.controller,
      'CreateVolume',
      {
        name: 'metrics-one',
        volume_capabilities: RW,
        capacity_range: { required_bytes: 64 * MiB },
      } as any,
      { timeoutMs: 60_000 },
    );
    await rejectsWithCode(
      call(q.clients.controller, 'ValidateVolumeCapabilities', {
        volume_id: volumeIdForName('never-made'),
        volume_capabilities: RW,
      } as any),
      status.NOT_FOUND,
    );
    const cap = await call(q.clients.controller, 'GetCapacity', {} as any);

    const res = await fetch(`${base}/metrics`);
    assert.equal(res.status, 200);
    assert.match(res.headers.get('content-type') ?? '', /^text\/plain; version=0\.0\.4/);
    const s = parseSamples(await res.text());

    const rpc = (method: string, code: string) => `{service="Controller",method="${method}",code="${code}"}`;
    assert.equal(sample(s, `quarry_rpc_total${rpc('CreateVolume', 'OK')}`), 1);
    assert.equal(sample(s, `quarry_rpc_total${rpc('ValidateVolumeCapabilities', 'NOT_FOUND')}`), 1);
    assert.equal(s.get(`quarry_rpc_total${rpc('CreateVolume', 'NOT_FOUND')}`), undefined);
    assert.equal(sample(s, `quarry_rpc_duration_seconds_count${rpc('CreateVolume', 'OK')}`), 1);
    assert.ok(sample(s, `quarry_rpc_duration_seconds_sum${rpc('CreateVolume', 'OK')}`) > 0);
    // startQuarry probes Identity until the socket answers.
    assert.ok(sample(s, 'quarry_rpc_total{service="Identity",method="Probe",code="OK"}') >= 1);

    const fs = await statfs(pool);
    const p = '{pool="default"}';
    assert.equal(sample(s, `quarry_volumes${p}`), 1);
    assert.equal(sample(s, `quarry_snapshots${p}`), 0);
    assert.equal(sample(s, `quarry_pool_reflink${p}`), 1);
    assert.equal(sample(s, `quarry_pool_available_bytes${p}`), Number(cap.available_capacity));
    assert.equal(sample(s, `quarry_pool_capacity_bytes${p}`), fs.blocks * fs.bsize);
    assert.equal(sample(s, `quarry_pool_promised_bytes${p}`), Number(created.volume!.capacity_bytes));
    const used = sample(s, `quarry_pool_used_bytes${p}`);
    assert.ok(used > 0 && used < fs.blocks * fs.bsize, `used ${used}`);
    assert.ok(sample(s, 'process_resident_memory_bytes') > 0); // unprefixed since 0.2.0
  });

  test('the pool gauges follow the pool: a deleted volume is gone from the next scrape', async () => {
    const v = await call(
      q.clients.controller,
      'CreateVolume',
      { name: 'metrics-two', volume_capabilities: RW, capacity_range: { required_bytes: 16 * MiB } } as any,
      { timeoutMs: 60_000 },
    );
    const volumes = async () => sample(parseSamples(await (await fetch(`${base}/metrics`)).text()), 'quarry_volumes{pool="default"}');
    assert.equal(await volumes(), 2);
    await call(q.clients.controller, 'DeleteVolume', { volume_id: v.volume!.volume_id } as any, { timeoutMs: 60_000 });
    assert.equal(await volumes(), 1);
  });

  test('anything but GET /metrics is 404', async () => {
    for (const path of ['/', '/metricsx', '/healthz']) assert.equal((await fetch(`${base}${path}`)).status, 404, path);
    assert.equal((await fetch(`${base}/metrics`, { method: 'POST' })).status, 404);
  });

  test('SIGTERM closes the metrics port and the process exits 0', async () => {
    process.kill(q.pid, 'SIGTERM');
    assert.deepEqual(await q.exited, { code: 0, signal: null });
    await assert.rejects(fetch(`${base}/metrics`));
  });
});

test('a metrics port in use stops startup with a clear error, and the process exits', async (t) => {
  const holder = createServer();
  await new Promise<void>((resolve) => holder.listen(0, '127.0.0.1', resolve));
  t.after(() => new Promise<void>((resolve) => holder.close(() => resolve())));
  const port = (holder.address() as AddressInfo).port;
  const dir = await makeTempDir(t, 'sock');
  const r = await runQuarry(['controller', '--endpoint', `unix://${dir}/csi.sock`, '--metrics-addr', `127.0.0.1:${port}`]);
  assert.equal(r.code, 1, r.stderr);
  assert.match(r.stderr, new RegExp(`quarry: cannot serve metrics on 127\\.0\\.0\\.1:${port}: .*EADDRINUSE`));
});
