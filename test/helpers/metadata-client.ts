// Test helper: a client of the server-streaming CSI SnapshotMetadata service, and its answers as range lists.
import type * as grpc from '@grpc/grpc-js';
import { snapshotMetadataClient } from '../../src/wire/client.js';
import type { SnapshotMetadataClient } from '../../src/wire/types.js';
import { onCleanup, type HasAfter } from './scratch.js';

export interface Range {
  offset: number;
  length: number;
}

export interface MetadataMessage {
  block_metadata_type: string;
  volume_capacity_bytes: number;
  block_metadata: { byte_offset: number; size_bytes: number }[];
}

/** A SnapshotMetadata client on `socketPath`, closed after the test. */
export function metadataClient(t: HasAfter, socketPath: string): SnapshotMetadataClient {
  const client = snapshotMetadataClient(socketPath);
  onCleanup(t, () => client.close());
  return client;
}

export type MetadataMethod = 'GetMetadataAllocated' | 'GetMetadataDelta';

/**
 * Calls a streaming method and collects its messages; rejects with the gRPC error. With
 * `firstOnly`, cancels the call after the first message (an interrupted client).
 */
export function collect(
  client: SnapshotMetadataClient,
  method: MetadataMethod,
  request: Record<string, unknown>,
  opts: { firstOnly?: boolean; timeoutMs?: number } = {},
): Promise<MetadataMessage[]> {
  return new Promise((resolve, reject) => {
    const deadline = Date.now() + (opts.timeoutMs ?? 60_000);
    const stream = (client[method] as (req: unknown, o: grpc.CallOptions) => grpc.ClientReadableStream<MetadataMessage>).call(
      client,
      request,
      { deadline },
    );
    const messages: MetadataMessage[] = [];
    let done = false;
    stream.on('data', (m: MetadataMessage) => {
      messages.push(m);
      if (opts.firstOnly && !done) {
        done = true;
        stream.cancel();
        resolve(messages);
      }
    });
    stream.on('error', (err: grpc.ServiceError) => {
      if (!done) reject(err);
      done = true;
    });
    stream.on('end', () => {
      if (!done) resolve(messages);
      done = true;
    });
  });
}

/** All ranges of an answer, in order, as sent. */
export function rangesOf(messages: readonly MetadataMessage[]): Range[] {
  return messages.flatMap((m) => m.block_metadata.map((b) => ({ offset: Number(b.byte_offset), length: Number(b.size_bytes) })));
}
