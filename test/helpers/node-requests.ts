/**
 * The node handlers as a unit test calls them: with the client's request (every field optional),
 * put through the same serialise → deserialise that grpc-js applies on the server, so the handler
 * receives exactly what the wire would hand it (absent messages as null, strings as '').
 */
import type { ServiceContext } from '../../src/services/context.js';
import { nodeExpandVolume as expand } from '../../src/services/node/expand.js';
import { nodePublishVolume as publish } from '../../src/services/node/publish.js';
import { nodeStageVolume as stage } from '../../src/services/node/stage.js';
import { nodeUnpublishVolume as unpublish } from '../../src/services/node/unpublish.js';
import { nodeUnstageVolume as unstage } from '../../src/services/node/unstage.js';
import { nodeGetVolumeStats as stats } from '../../src/services/node/volume-stats.js';
import { csiProto, csiServiceDefinition } from '../../src/wire/proto.js';
import type {
  NodeExpandVolumeRequestIn,
  NodeGetVolumeStatsRequestIn,
  NodePublishVolumeRequestIn,
  NodeStageVolumeRequestIn,
  NodeUnpublishVolumeRequestIn,
  NodeUnstageVolumeRequestIn,
} from '../../src/wire/types.js';

/** `req` as the server decodes it for `Node.<method>`. */
function received<In, Out>(method: string, req: In): Out {
  const def = csiServiceDefinition(csiProto(), 'Node')[method];
  if (!def) throw new Error(`Node.${method} is not in the CSI contract`);
  return def.requestDeserialize(def.requestSerialize(req)) as Out;
}

type Handler<Out, Res> = (ctx: ServiceContext, req: Out) => Promise<Res>;
type OutOf<H> = H extends Handler<infer Out, unknown> ? Out : never;

function viaWire<In, H extends Handler<never, unknown>>(method: string, handler: H) {
  return (ctx: ServiceContext, req: In) => handler(ctx, received<In, OutOf<H>>(method, req) as never) as ReturnType<H>;
}

export const nodeStageVolume = viaWire<NodeStageVolumeRequestIn, typeof stage>('NodeStageVolume', stage);
export const nodeUnstageVolume = viaWire<NodeUnstageVolumeRequestIn, typeof unstage>('NodeUnstageVolume', unstage);
export const nodePublishVolume = viaWire<NodePublishVolumeRequestIn, typeof publish>('NodePublishVolume', publish);
export const nodeUnpublishVolume = viaWire<NodeUnpublishVolumeRequestIn, typeof unpublish>('NodeUnpublishVolume', unpublish);
export const nodeExpandVolume = viaWire<NodeExpandVolumeRequestIn, typeof expand>('NodeExpandVolume', expand);
export const nodeGetVolumeStats = viaWire<NodeGetVolumeStatsRequestIn, typeof stats>('NodeGetVolumeStats', stats);
