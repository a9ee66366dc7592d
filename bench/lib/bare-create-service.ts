/**
 * The CreateVolume handler of the bare grpc-js server (bench/lib/bare-grpc-server.ts): no
 * validation, no locks, no capacity, no records beyond the bare file work; it takes the request's
 * name and size, does the file work and answers the CreateVolumeResponse a driver would.
 */
import type * as grpc from '@grpc/grpc-js';
import type * as protoLoader from '@grpc/proto-loader';
import { bareCreate } from './bare-create.js';

interface BareCreateRequest {
  name: string;
  capacity_range?: { required_bytes?: number } | null;
}

export function addBareCreateVolume(server: grpc.Server, def: protoLoader.PackageDefinition, dir: string): void {
  server.addService(def['csi.v1.Controller'] as grpc.ServiceDefinition, {
    CreateVolume: (call: grpc.ServerUnaryCall<BareCreateRequest, unknown>, callback: grpc.sendUnaryData<unknown>) => {
      const { name } = call.request;
      const size = Number(call.request.capacity_range?.required_bytes ?? 0);
      bareCreate(dir, name, size).then(
        () => callback(null, { volume: { volume_id: name, capacity_bytes: size, volume_context: {} } }),
        (e: Error) => callback({ code: 13, details: e.message }),
      );
    },
  });
}
