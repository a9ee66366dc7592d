// Spec §4.8: Go gRPC clients (kubelet, the sidecars, csi-sanity) reach the unix socket directly, never through a proxy.
import assert from 'node:assert/strict';
import { createServer, type Socket } from 'node:net';
import { mkdir } from 'node:fs/promises';
import { join } from 'node:path';
import { it } from 'node:test';
import { makeTempDir, onCleanup } from '../helpers/scratch.js';
import { startQuarry } from '../helpers/quarry-process.js';
import { runCsiSanity } from './sanity-runner.js';

it('csi-sanity (a Go gRPC client) runs its Identity specs over the unix sockets even with every proxy variable set', async (t) => {
  const dir = await makeTempDir(t, 'go-client');
  const pool = join(dir, 'pool');
  await mkdir(pool);
  // A "proxy" that records every connection: a client that honoured the proxy variables would land here.
  const proxied: Socket[] = [];
  const proxy = createServer((s) => {
    proxied.push(s);
    s.destroy();
  });
  await new Promise<void>((r) => proxy.listen(0, '127.0.0.1', r));
  onCleanup(t, () => new Promise((r) => proxy.close(() => r(undefined))));
  const proxyUrl = `http://127.0.0.1:${(proxy.address() as { port: number }).port}`;

  const common = ['--nodeid', 'go-client-node', '--pool', pool, '--log-level', 'warn'];
  const controller = await startQuarry(t, { role: 'controller', dir, args: common });
  const node = await startQuarry(t, { role: 'node', dir, args: common });

  const env = {
    ...process.env,
    HTTPS_PROXY: proxyUrl,
    HTTP_PROXY: proxyUrl,
    https_proxy: proxyUrl,
    http_proxy: proxyUrl,
    ALL_PROXY: proxyUrl,
    GRPC_PROXY: proxyUrl,
    NO_PROXY: '',
  };
  const result = await runCsiSanity(
    [
      '-csi.endpoint',
      node.socketPath,
      '-csi.controllerendpoint',
      controller.socketPath,
      '-csi.stagingdir',
      join(dir, 'staging'),
      '-csi.mountdir',
      join(dir, 'mount'),
      '-ginkgo.focus',
      'Identity Service',
    ],
    env,
  );
  t.diagnostic(`Identity specs: ${result.summary}: ${result.passed} passed, ${result.failed} failed`);
  assert.equal(result.failed, 0, result.failures.join('\n'));
  assert.equal(result.exitCode, 0, result.log.slice(-3000));
  assert.ok(result.passed >= 3, `expected the Identity specs to run, got ${result.passed}`);
  assert.equal(proxied.length, 0, 'the Go client connected to the proxy instead of the socket');
});
