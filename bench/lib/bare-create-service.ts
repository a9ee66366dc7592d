/**
 * The CreateVolume handler of the bare grpc-js server (bench/lib/bare-grpc-server.ts): no
 * validation, no locks, no capacity, no records beyond the bare file work; it takes the request's
 * name and size, does the file work and answers the CreateVolumeResponse a driver would.
 *
 * ListVolumes answers the response the bench put in `<dir>.list.json` (Quarry's own answer), read
 * at the first call and then served from memory: the floor under any listing of those entries,
 * the transport and the encoding alone.
 */
import { readFileSync } from 'node:fs';
import type * as grpc from '@grpc/grpc-js';
import type * as protoLoader from '@grpc/proto-loader';
import { bareCreate } from './bare-create.js';

interface BareCreateRequest {
  name: string;
  capacity_range?: { required_bytes?: number } | null;
}

export function addBareCreateVolume(server: grpc.Server, def: protoLoader.PackageDefinition, dir: string): void {
  let listing: unknown;
  server.addService(def['csi.v1.Controller'] as grpc.ServiceDefinition, {
    ListVolumes: (_call: unknown, callback: grpc.sendUnaryData<unknown>) => {
      listing ??= JSON.parse(readFileSync(`${dir}.list.json`, 'utf8'));
      callback(null, listing);
    },
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
