// The typed request boundary (design: Request types): what the wire hands a handler, and the binding table.
import { test } from 'node:test';
import * as assert from 'node:assert/strict';
import { bindHandlers, type HandlerTable } from '../../src/services/bind.js';
import type { ServiceContext } from '../../src/services/context.js';
import { csiProto, csiServiceDefinition } from '../../src/wire/proto.js';
import type { CallContext, NodeHandlers, NodeStageVolumeRequest } from '../../src/wire/types.js';

// Compile-time: the decoded request has exactly the proto's fields. If the type ever loosened
// (a hand-written shape, Partial<>, an index signature), these directives would fail the build.
// @ts-expect-error volume_idd is not a field of NodeStageVolumeRequest
export const misspelt = (r: NodeStageVolumeRequest) => r.volume_idd;
// @ts-expect-error a handler table entry must take its own RPC's request
export const wrongRequest: HandlerTable<NodeHandlers> = { NodeStageVolume: async (_ctx, _req: { target_path: string }) => ({}) };

test('an empty NodeStageVolumeRequest reaches the handler with strings as "" and messages as null', () => {
  const def = csiServiceDefinition(csiProto(), 'Node').NodeStageVolume;
  assert.ok(def);
  const req = def.requestDeserialize(def.requestSerialize({})) as NodeStageVolumeRequest;
  assert.equal(req.volume_id, '');
  assert.equal(req.staging_target_path, '');
  assert.equal(req.volume_capability, null);
  assert.deepEqual(req.publish_context, {});
});

test('bindHandlers passes the context, the request and the call to the table entry', async () => {
  const ctx = { driverName: 'quarry.csi.dev' } as ServiceContext;
  const call = { method: 'Node.NodeGetInfo' } as CallContext;
  const seen: unknown[] = [];
  const handlers = bindHandlers<NodeHandlers>(ctx, {
    NodeGetInfo: async (c, req, k) => {
      seen.push(c, req, k);
      return { node_id: 'n1' };
    },
  });
  assert.deepEqual(Object.keys(handlers), ['NodeGetInfo']);
  const req = {};
  assert.deepEqual(await handlers.NodeGetInfo?.(req, call), { node_id: 'n1' });
  assert.equal(seen[0], ctx);
  assert.equal(seen[1], req);
  assert.equal(seen[2], call);
});
