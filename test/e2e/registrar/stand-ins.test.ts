// The sidecar stand-ins against a real quarry process, with this test in the kubelet's place:
// they must speak the kubelet's registration protocol and the livenessprobe's /healthz truthfully,
// or the e2e cluster would prove nothing about registration and liveness.
import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync } from 'node:fs';
import net from 'node:net';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { fileURLToPath } from 'node:url';
import * as grpc from '@grpc/grpc-js';
import * as protoLoader from '@grpc/proto-loader';
import { startQuarry, waitUntil } from '../../helpers/quarry-process.js';
import { makeTempDir, onCleanup, type HasAfter } from '../../helpers/scratch.js';

const here = (name: string) => fileURLToPath(new URL(name, import.meta.url));
const PROTO = fileURLToPath(new URL('../../../../test/e2e/registrar/registration.proto', import.meta.url));
const KUBELET_PATH = '/var/lib/kubelet/plugins/quarry.csi.dev/csi.sock';

interface StandIn {
  child: ChildProcess;
  exited: Promise<number | null>;
  stderr: () => string;
}

function startStandIn(t: HasAfter, script: string, args: string[]): StandIn {
  const child = spawn(process.execPath, [here(script), ...args], { stdio: ['ignore', 'ignore', 'pipe'] });
  let stderr = '';
  child.stderr!.setEncoding('utf8').on('data', (d: string) => (stderr += d));
  const exited = new Promise<number | null>((resolve) => child.once('close', (code) => resolve(code)));
  onCleanup(t, async () => {
    if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
    await exited;
  });
  return { child, exited, stderr: () => stderr };
}

async function freePort(): Promise<number> {
  const server = net.createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as net.AddressInfo;
  await new Promise((resolve) => server.close(resolve));
  return port;
}

async function healthz(port: number): Promise<number> {
  return (await fetch(`http://127.0.0.1:${port}/healthz`)).status;
}

type Kubelet = grpc.Client & Record<string, (req: object, cb: (err: grpc.ServiceError | null, res: any) => void) => void>;

/** The kubelet's side of plugin registration, on the stand-in's socket. */
function kubeletClient(socket: string): Kubelet {
  const def = protoLoader.loadSync(PROTO, { keepCase: true, defaults: true });
  const Registration = (grpc.loadPackageDefinition(def).pluginregistration as grpc.GrpcObject)
    .Registration as grpc.ServiceClientConstructor;
  return new Registration(`unix:${socket}`, grpc.credentials.createInsecure()) as unknown as Kubelet;
}

function rpc(client: Kubelet, method: string, req: object): Promise<any> {
  return new Promise((resolve, reject) => client[method]!(req, (err, res) => (err ? reject(err) : resolve(res))));
}

describe('sidecar stand-ins', () => {
  it('the registrar tells the kubelet where the driver serves, and leaves when told registration failed', async (t) => {
    const dir = await makeTempDir(t, 'registrar');
    const q = await startQuarry(t, { role: 'controller', dir, args: ['--drivername', 'quarry.csi.dev'] });
    const regDir = join(dir, 'registry');
    const port = await freePort();
    const args = [
      `--csi-address=${q.socketPath}`,
      `--kubelet-registration-path=${KUBELET_PATH}`,
      `--registration-dir=${regDir}`,
      `--http-endpoint=127.0.0.1:${port}`,
      '--v=2',
    ];
    const socket = join(regDir, 'quarry.csi.dev-reg.sock');

    const first = startStandIn(t, 'registrar.js', args);
    await waitUntil(
      async () => existsSync(socket) && (await healthz(port).catch(() => 0)) === 200,
      15_000,
      () => `no registration socket: ${first.stderr()}`,
    );
    const kubelet = kubeletClient(socket);
    onCleanup(t, () => kubelet.close());
    assert.deepEqual(await rpc(kubelet, 'GetInfo', {}), {
      type: 'CSIPlugin',
      name: 'quarry.csi.dev',
      endpoint: KUBELET_PATH,
      supported_versions: ['1.0.0'],
    });
    await rpc(kubelet, 'NotifyRegistrationStatus', { plugin_registered: true });
    assert.equal(first.child.exitCode, null, 'a registered plugin keeps its registrar running');
    first.child.kill('SIGTERM');
    assert.equal(await first.exited, 0);
    assert.equal(existsSync(socket), false, 'SIGTERM removes the socket: the kubelet then forgets the plugin');

    const second = startStandIn(t, 'registrar.js', args);
    await waitUntil(
      async () => existsSync(socket),
      15_000,
      () => `no registration socket: ${second.stderr()}`,
    );
    const kubelet2 = kubeletClient(socket);
    onCleanup(t, () => kubelet2.close());
    await rpc(kubelet2, 'NotifyRegistrationStatus', { plugin_registered: false, error: 'refused by the test' });
    assert.equal(await second.exited, 1, 'a refused registration exits non-zero, so the pod restarts it');
    assert.match(second.stderr(), /refused by the test/);
  });

  it('the liveness probe is healthy exactly while the driver answers Probe', async (t) => {
    const dir = await makeTempDir(t, 'liveness');
    const q = await startQuarry(t, { role: 'controller', dir, args: ['--drivername', 'quarry.csi.dev'] });
    const port = await freePort();
    const probe = startStandIn(t, 'liveness-probe.js', [
      `--csi-address=${q.socketPath}`,
      `--http-endpoint=127.0.0.1:${port}`,
      '--probe-timeout=3s',
    ]);
    await waitUntil(
      async () => (await healthz(port).catch(() => 0)) !== 0,
      15_000,
      () => `no /healthz: ${probe.stderr()}`,
    );
    assert.equal(await healthz(port), 200);
    await q.kill();
    assert.equal(await healthz(port), 500);
  });
});
