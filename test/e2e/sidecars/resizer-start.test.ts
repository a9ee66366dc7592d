// The real csi-resizer v2.3.0 (built by build.sh) against the pool-less local-mode controller,
// without a cluster: at start the resizer picks its resizer from what the CSI socket answers,
// before it needs the API server. On a controller that serves no NodeGetCapabilities it exits
// with "error getting node capabilities ... Unimplemented" (design: Expansion in local mode).
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { access, writeFile } from 'node:fs/promises';
import net from 'node:net';
import { homedir } from 'node:os';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { startQuarry, waitUntil } from '../../helpers/quarry-process.js';
import { makeTempDir, onCleanup } from '../../helpers/scratch.js';

const TOOLS = process.env.QUARRY_TOOLS_DIR ?? join(homedir(), '.cache/quarry-tools');
const RESIZER = join(TOOLS, 'sidecars/bin/csi-resizer-v2.3.0');

/** A port on loopback that nothing listens on: the API server the resizer never reaches. */
async function closedPort(): Promise<number> {
  const server = net.createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as net.AddressInfo;
  await new Promise((resolve) => server.close(resolve));
  return port;
}

describe('csi-resizer v2.3.0 at start', () => {
  it('runs its node-only resizer against the pool-less local controller', async (t) => {
    await access(RESIZER).catch(() => {
      throw new Error(`${RESIZER} is missing: run test/e2e/sidecars/build.sh (.ci/run does)`);
    });
    const dir = await makeTempDir(t, 'resizer-start');
    const q = await startQuarry(t, { role: 'controller', dir, args: ['--drivername', 'quarry.csi.dev'] });
    const kubeconfig = join(dir, 'kubeconfig');
    await writeFile(
      kubeconfig,
      JSON.stringify({
        apiVersion: 'v1',
        kind: 'Config',
        clusters: [{ name: 'none', cluster: { server: `https://127.0.0.1:${await closedPort()}`, 'insecure-skip-tls-verify': true } }],
        users: [{ name: 'none', user: { token: 'none' } }],
        contexts: [{ name: 'none', context: { cluster: 'none', user: 'none' } }],
        'current-context': 'none',
      }),
    );
    const resizer = spawn(
      RESIZER,
      [
        `--csi-address=${q.socketPath}`,
        `--kubeconfig=${kubeconfig}`,
        '--leader-election=false',
        '--timeout=10s',
        '--v=2',
        '--feature-gates=VolumeAttributesClass=false',
      ],
      { stdio: ['ignore', 'pipe', 'pipe'] },
    );
    let log = '';
    resizer.stdout!.setEncoding('utf8').on('data', (d: string) => (log += d));
    resizer.stderr!.setEncoding('utf8').on('data', (d: string) => (log += d));
    const exited = new Promise<number | null>((resolve) => resizer.once('close', resolve));
    onCleanup(t, async () => {
      if (resizer.exitCode === null && resizer.signalCode === null) resizer.kill('SIGKILL');
      await exited;
    });
    await waitUntil(
      async () => {
        if (resizer.exitCode !== null) throw new Error(`csi-resizer exited ${resizer.exitCode} at start:\n${log}`);
        return /using trivial resizer/.test(log);
      },
      60_000,
      () => `csi-resizer did not choose its resizer in 60 s:\n${log}`,
      200,
    );
    assert.doesNotMatch(log, /Failed to create CSI resizer/);
  });
});
