/**
 * STAND-IN for the livenessprobe sidecar, used only by the e2e cluster.
 *
 * Why a stand-in: the real sidecar cannot be had here. No container registry is reachable, and
 * livenessprobe is not served by the Go module proxy at any version, so it cannot be built
 * either. deploy/ keeps the real sidecar for users; test/e2e/install swaps this one in, so that
 * the driver container's livenessProbe keeps meaning what it means in production.
 *
 * As the real one, with the same flags: GET /healthz on --http-endpoint calls the driver's CSI
 * Probe on --csi-address with --probe-timeout, and answers 200 only when the driver is ready.
 *
 *   node liveness-probe.js --csi-address=/csi/csi.sock --http-endpoint=:9808 --probe-timeout=3s
 */
import { parseArgs } from 'node:util';
import { call, csiClients } from '../../../src/wire/client.js';
import { log, serveHealth } from './stand-in.js';

const { values } = parseArgs({
  options: {
    'csi-address': { type: 'string', default: '/csi/csi.sock' },
    'http-endpoint': { type: 'string', default: ':9808' },
    'probe-timeout': { type: 'string', default: '1s' },
    v: { type: 'string' },
  },
  strict: true,
});
const timeout = /^(\d+)s$/.exec(values['probe-timeout']!);
if (!timeout) {
  log('livenessprobe', `invalid --probe-timeout ${values['probe-timeout']}: pass whole seconds, as 3s`);
  process.exit(2);
}
const timeoutMs = Number(timeout[1]) * 1_000;

const csi = csiClients(values['csi-address']!);
const server = await serveHealth('livenessprobe', values['http-endpoint']!, async () => {
  try {
    const r = await call(csi.identity, 'Probe', {}, { timeoutMs });
    // An unset `ready` means ready (CSI spec).
    return r.ready?.value !== false;
  } catch (err) {
    log('livenessprobe', `Probe failed: ${(err as Error).message}`);
    return false;
  }
});

const stop = () => {
  server.close();
  csi.close();
  process.exit(0);
};
process.once('SIGTERM', stop);
process.once('SIGINT', stop);
