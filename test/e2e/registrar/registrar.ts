/**
 * STAND-IN for node-driver-registrar, used only by the e2e cluster.
 *
 * Why a stand-in: the real sidecar cannot be had here. No container registry is reachable, and
 * node-driver-registrar is not served by the Go module proxy at any version, so it cannot be
 * built either. deploy/ keeps the real sidecar for users; test/e2e/install swaps this one in.
 *
 * It does what the real one does for the kubelet, with the same flags:
 *   - asks the driver its name (GetPluginInfo on --csi-address), retrying until it answers;
 *   - serves the kubelet's plugin registration service (registration.proto) on
 *     <--registration-dir>/<driver>-reg.sock, telling the kubelet that the CSI socket is at
 *     --kubelet-registration-path on the node;
 *   - exits non-zero when the kubelet reports that registration failed, so the pod restarts it;
 *   - serves GET /healthz on --http-endpoint while its registration socket exists;
 *   - removes its socket on SIGTERM or SIGINT, which tells the kubelet that the plugin is gone.
 *
 *   node registrar.js --csi-address=/csi/csi.sock \
 *     --kubelet-registration-path=/var/lib/kubelet/plugins/quarry.csi.dev/csi.sock --http-endpoint=:9809
 */
import { existsSync } from 'node:fs';
import { mkdir, unlink } from 'node:fs/promises';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import * as grpc from '@grpc/grpc-js';
import * as protoLoader from '@grpc/proto-loader';
import { call, csiClients } from '../../../src/wire/client.js';
import { log, serveHealth, untilAnswered } from './stand-in.js';

const PROTO = new URL('../../../../test/e2e/registrar/registration.proto', import.meta.url);
const CSI_VERSIONS = ['1.0.0'];

const { values } = parseArgs({
  options: {
    'csi-address': { type: 'string', default: '/csi/csi.sock' },
    'kubelet-registration-path': { type: 'string' },
    'registration-dir': { type: 'string', default: '/registration' },
    'http-endpoint': { type: 'string' },
    v: { type: 'string' },
  },
  strict: true,
});
const csiAddress = values['csi-address']!;
const kubeletPath = values['kubelet-registration-path'];
if (!kubeletPath) {
  log('registrar', 'missing --kubelet-registration-path: the CSI socket as a path on the node');
  process.exit(2);
}

const csi = csiClients(csiAddress);
const driver = await untilAnswered('registrar', `GetPluginInfo on ${csiAddress}`, async () => {
  return (await call(csi.identity, 'GetPluginInfo', {}, { timeoutMs: 5_000 })).name;
});
csi.close();

const definition = protoLoader.loadSync(PROTO.pathname, { keepCase: true, defaults: true });
const registration = (grpc.loadPackageDefinition(definition).pluginregistration as grpc.GrpcObject)
  .Registration as grpc.ServiceClientConstructor;

const socketPath = join(values['registration-dir']!, `${driver}-reg.sock`);
await mkdir(values['registration-dir']!, { recursive: true });
await unlink(socketPath).catch(() => undefined); // a socket left by an earlier container
const server = new grpc.Server();
server.addService(registration.service, {
  GetInfo: (_call: unknown, done: grpc.sendUnaryData<object>) => {
    log('registrar', `kubelet asked for the plugin info: ${driver} at ${kubeletPath}`);
    done(null, { type: 'CSIPlugin', name: driver, endpoint: kubeletPath, supported_versions: CSI_VERSIONS });
  },
  NotifyRegistrationStatus: (
    c: grpc.ServerUnaryCall<{ plugin_registered: boolean; error: string }, object>,
    done: grpc.sendUnaryData<object>,
  ) => {
    done(null, {});
    if (c.request.plugin_registered) {
      log('registrar', `kubelet registered ${driver}`);
    } else {
      log('registrar', `kubelet did not register ${driver}: ${c.request.error}; exiting so that the pod restarts this container`);
      setImmediate(() => void stop(1));
    }
  },
});
await new Promise<void>((resolve, reject) =>
  server.bindAsync(`unix:${socketPath}`, grpc.ServerCredentials.createInsecure(), (err) => (err ? reject(err) : resolve())),
);
log('registrar', `serving the registration of ${driver} on ${socketPath}`);

const health = values['http-endpoint']
  ? await serveHealth('registrar', values['http-endpoint'], async () => existsSync(socketPath))
  : undefined;

async function stop(code: number): Promise<void> {
  // Let an answer in flight (the kubelet's NotifyRegistrationStatus) reach the kubelet first.
  await new Promise<void>((resolve) => {
    const timer = setTimeout(() => {
      server.forceShutdown();
      resolve();
    }, 2_000);
    server.tryShutdown(() => {
      clearTimeout(timer);
      resolve();
    });
  });
  health?.close();
  await unlink(socketPath).catch(() => undefined);
  process.exit(code);
}
process.once('SIGTERM', () => void stop(0));
process.once('SIGINT', () => void stop(0));
