/**
 * The baseline of the process benches: a bare grpc-js server with @grpc/proto-loader on
 * proto/csi.proto, one Probe handler and nothing else, on a unix socket. Run as its own process:
 *
 *   node dist/bench/lib/bare-grpc-server.js /path/to/bare.sock
 *
 * It is what any Node CSI driver pays before doing anything: the runtime, grpc-js and the contract.
 *
 * Given a directory as well, it also serves CreateVolume, doing the bare file work of a create in
 * that directory (bench/lib/bare-create.ts) and answering a CreateVolumeResponse: the floor under
 * Quarry's CPU per CreateVolume (design: Performance targets).
 *
 *   node dist/bench/lib/bare-grpc-server.js /path/to/bare.sock /pool/fs/bare-grpc
 *
 * Without the directory nothing more is loaded, so the Probe-only process measured for RSS is unchanged.
 */
import { fileURLToPath } from 'node:url';
import * as grpc from '@grpc/grpc-js';
import * as protoLoader from '@grpc/proto-loader';

const socketPath = process.argv[2];
const createDir = process.argv[3];
if (!socketPath) throw new Error('usage: bare-grpc-server.js <socket path> [create directory]');
const protoPath = fileURLToPath(new URL('../../../proto/csi.proto', import.meta.url));
const def = protoLoader.loadSync(protoPath, { keepCase: true, longs: Number, enums: String, defaults: true, oneofs: true });
const server = new grpc.Server();
server.addService(def['csi.v1.Identity'] as grpc.ServiceDefinition, {
  Probe: (_call: unknown, callback: grpc.sendUnaryData<unknown>) => callback(null, { ready: { value: true } }),
});
const serve = () =>
  server.bindAsync(`unix:${socketPath}`, grpc.ServerCredentials.createInsecure(), (err) => {
    if (err) {
      process.stderr.write(`bare grpc server: ${err.message}\n`);
      process.exit(1);
    }
  });
// No top-level await: the Probe-only module stays synchronous, as it was.
if (createDir)
  void import('./bare-create-service.js').then(({ addBareCreateVolume }) => {
    addBareCreateVolume(server, def, createDir);
    serve();
  });
else serve();
process.on('SIGTERM', () => server.forceShutdown());
