/**
 * Every metric family an admin's dashboards and alerts rely on, scraped from a real
 * `quarry controller` on a loop-mounted XFS pool (design: Observability), and the host-tool
 * observer counting real tool runs, failures included.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { pino } from 'pino';
import { MiB } from '../../src/domain/bytes.js';
import { run, setHostToolObserver } from '../../src/host/exec.js';
import { createMetrics } from '../../src/metrics/registry.js';
import { PoolSet } from '../../src/storage/pool-set.js';
import { packageVersion } from '../../src/version.js';
import { call } from '../helpers/grpc-client.js';
import { makeTempDir, onCleanup } from '../helpers/scratch.js';
import { scratchPoolDir, startQuarry, type QuarryProcess } from '../helpers/quarry-process.js';

const RW = [{ mount: { fs_type: '', mount_flags: [] }, access_mode: { mode: 'SINGLE_NODE_WRITER' } }] as any[];

/** family name -> its sample lines, from the text exposition format. */
function families(text: string): Map<string, { type: string; samples: string[] }> {
  const out = new Map<string, { type: string; samples: string[] }>();
  for (const line of text.split('\n')) {
    const t = /^# TYPE (\S+) (\S+)$/.exec(line);
    if (t) out.set(t[1]!, { type: t[2]!, samples: [] });
    else if (line && !line.startsWith('#')) {
      const name = /^[a-zA-Z_:][\w:]*/.exec(line)![0];
      const fam = [...out.keys()].reverse().find((f) => name === f || name.startsWith(`${f}_`));
      if (fam) out.get(fam)!.samples.push(line);
    }
  }
  return out;
}

describe('metric families of quarry controller', () => {
  const suite = { after };
  onCleanup(suite, () => undefined);
  let q: QuarryProcess;
  let text: string;

  before(async () => {
    const sock = await makeTempDir(suite, 'sock');
    const { path: pool } = await scratchPoolDir(suite, { fsType: 'xfs' });
    q = await startQuarry(suite, {
      role: 'controller',
      dir: sock,
      args: ['--nodeid', 'n1', '--pool', pool, '--metrics-addr', '127.0.0.1:0'],
    });
    await q.waitForOutput(/"msg":"metrics listening"/);
    const addr = q
      .stdout()
      .split('\n')
      .filter((l) => l.includes('metrics listening'))
      .map((l) => JSON.parse(l).address as string)[0];
    await call(
      q.clients.controller,
      'CreateVolume',
      { name: 'families', volume_capabilities: RW, capacity_range: { required_bytes: 32 * MiB } } as any,
      { timeoutMs: 60_000 },
    );
    text = await (await fetch(`http://${addr}/metrics`)).text();
  });

  test('gRPC-conventional RPC metrics with grpc_service, grpc_method, grpc_code', () => {
    const f = families(text);
    assert.equal(f.get('grpc_server_handled_total')?.type, 'counter');
    assert.equal(f.get('grpc_server_handling_seconds')?.type, 'histogram');
    assert.ok(
      f
        .get('grpc_server_handled_total')!
        .samples.includes(
          'grpc_server_handled_total{grpc_type="unary",grpc_service="csi.v1.Controller",grpc_method="CreateVolume",grpc_code="OK"} 1',
        ),
      f.get('grpc_server_handled_total')!.samples.join('\n'),
    );
    assert.ok(
      f
        .get('grpc_server_handling_seconds')!
        .samples.some((l) => l.startsWith('grpc_server_handling_seconds_count{') && l.includes('grpc_method="CreateVolume"')),
    );
    // Deprecated, kept for one release so that existing dashboards keep working during the upgrade.
    assert.equal(f.get('quarry_rpc_total')?.type, 'counter');
  });

  test('quarry_build_info names the version and the runtime', () => {
    const f = families(text);
    assert.equal(f.get('quarry_build_info')?.type, 'gauge');
    assert.deepEqual(f.get('quarry_build_info')!.samples, [
      `quarry_build_info{version="${packageVersion()}",nodejs_version="${process.version}"} 1`,
    ]);
  });

  test('default process metrics are unprefixed (process_*, nodejs_*)', () => {
    const f = families(text);
    for (const name of [
      'process_cpu_user_seconds_total',
      'process_resident_memory_bytes',
      'process_start_time_seconds',
      'nodejs_heap_size_used_bytes',
      'nodejs_eventloop_lag_seconds',
    ]) {
      assert.ok(f.has(name), `${name} missing`);
    }
    assert.ok(![...f.keys()].some((n) => n.startsWith('quarry_process_') || n.startsWith('quarry_nodejs_')), 'no prefixed copies');
  });

  test('host-tool duration per tool: the pool lock (flock) ran for CreateVolume', () => {
    const f = families(text);
    assert.equal(f.get('quarry_host_tool_duration_seconds')?.type, 'histogram');
    assert.equal(f.get('quarry_host_tool_failures_total')?.type, 'counter');
    const count = f
      .get('quarry_host_tool_duration_seconds')!
      .samples.find((l) => l.startsWith('quarry_host_tool_duration_seconds_count{tool="flock",outcome="ok"}'));
    assert.ok(count && Number(count.split(' ')[1]) >= 1, `flock runs counted: ${count}`);
  });

  test('pool gauges are there', () => {
    assert.ok(
      [...families(text).keys()].some((n) => n.startsWith('quarry_pool_')),
      'a quarry_pool_* family',
    );
  });
});

describe('host-tool observer', () => {
  test('counts successes, failures and missing tools by tool and outcome', async (t) => {
    const metrics = createMetrics(new PoolSet(new Map()), pino({ level: 'silent' }));
    setHostToolObserver(metrics.onHostTool);
    t.after(() => setHostToolObserver(undefined));
    await run('true', []);
    await assert.rejects(run('false', []));
    await assert.rejects(run('quarry-no-such-tool', []));
    const f = families(await metrics.registry.metrics());
    const samples = [...f.get('quarry_host_tool_failures_total')!.samples].sort();
    assert.deepEqual(samples, [
      'quarry_host_tool_failures_total{tool="false",outcome="failed"} 1',
      'quarry_host_tool_failures_total{tool="quarry-no-such-tool",outcome="missing"} 1',
    ]);
    assert.ok(
      f.get('quarry_host_tool_duration_seconds')!.samples.includes('quarry_host_tool_duration_seconds_count{tool="true",outcome="ok"} 1'),
    );
  });
});
