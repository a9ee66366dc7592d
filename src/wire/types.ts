/**
 * Names for the CSI messages as Quarry's handlers see them (design: Request types). The shapes come
 * from proto-loader-gen-types (src/wire/generated, built by `npm run build`) with the loader options
 * of ./proto.ts: snake_case field names, enums as their string names, int64 as JS numbers, defaults
 * filled in, and a virtual string field per oneof naming the member that is set.
 *
 * - `XxxRequest` is the decoded request a handler receives: every field present, an absent message
 *   as null and an absent string as ''. A field the proto does not have fails to compile.
 * - `XxxResponse` is what a handler returns (every field optional; enums as names or numbers).
 * - `XxxRequestIn` is the client's side of a request, for tests that call a handler directly.
 *
 * Only the names something uses are here; add one when a handler or test needs it.
 */
import type * as grpc from '@grpc/grpc-js';
import type { RequestScope } from '../services/request-scope.js';
import type { ControllerHandlers as GeneratedControllerHandlers } from './generated/csi/v1/Controller.js';
import type { GroupControllerHandlers as GeneratedGroupControllerHandlers } from './generated/csi/v1/GroupController.js';
import type { IdentityHandlers as GeneratedIdentityHandlers } from './generated/csi/v1/Identity.js';
import type { NodeHandlers as GeneratedNodeHandlers } from './generated/csi/v1/Node.js';
import type { SnapshotMetadataHandlers as GeneratedSnapshotMetadataHandlers } from './generated/csi/v1/SnapshotMetadata.js';

// Requests as a handler receives them, and the responses it returns.
export type { ControllerExpandVolumeRequest__Output as ControllerExpandVolumeRequest } from './generated/csi/v1/ControllerExpandVolumeRequest.js';
export type { ControllerExpandVolumeResponse } from './generated/csi/v1/ControllerExpandVolumeResponse.js';
export type { ControllerGetVolumeRequest__Output as ControllerGetVolumeRequest } from './generated/csi/v1/ControllerGetVolumeRequest.js';
export type { ControllerGetVolumeResponse } from './generated/csi/v1/ControllerGetVolumeResponse.js';
export type { ControllerModifyVolumeRequest__Output as ControllerModifyVolumeRequest } from './generated/csi/v1/ControllerModifyVolumeRequest.js';
export type { ControllerModifyVolumeResponse } from './generated/csi/v1/ControllerModifyVolumeResponse.js';
export type { ControllerPublishVolumeRequest__Output as ControllerPublishVolumeRequest } from './generated/csi/v1/ControllerPublishVolumeRequest.js';
export type { ControllerPublishVolumeResponse } from './generated/csi/v1/ControllerPublishVolumeResponse.js';
export type { ControllerUnpublishVolumeRequest__Output as ControllerUnpublishVolumeRequest } from './generated/csi/v1/ControllerUnpublishVolumeRequest.js';
export type { ControllerUnpublishVolumeResponse } from './generated/csi/v1/ControllerUnpublishVolumeResponse.js';
export type { CreateSnapshotRequest__Output as CreateSnapshotRequest } from './generated/csi/v1/CreateSnapshotRequest.js';
export type { CreateSnapshotResponse } from './generated/csi/v1/CreateSnapshotResponse.js';
export type { CreateVolumeRequest__Output as CreateVolumeRequest } from './generated/csi/v1/CreateVolumeRequest.js';
export type { CreateVolumeResponse } from './generated/csi/v1/CreateVolumeResponse.js';
export type { DeleteSnapshotRequest__Output as DeleteSnapshotRequest } from './generated/csi/v1/DeleteSnapshotRequest.js';
export type { DeleteSnapshotResponse } from './generated/csi/v1/DeleteSnapshotResponse.js';
export type { DeleteVolumeRequest__Output as DeleteVolumeRequest } from './generated/csi/v1/DeleteVolumeRequest.js';
export type { DeleteVolumeResponse } from './generated/csi/v1/DeleteVolumeResponse.js';
export type { GetCapacityRequest__Output as GetCapacityRequest } from './generated/csi/v1/GetCapacityRequest.js';
export type { GetCapacityResponse } from './generated/csi/v1/GetCapacityResponse.js';
export type { GetSnapshotRequest__Output as GetSnapshotRequest } from './generated/csi/v1/GetSnapshotRequest.js';
export type { GetSnapshotResponse } from './generated/csi/v1/GetSnapshotResponse.js';
export type { ListSnapshotsRequest__Output as ListSnapshotsRequest } from './generated/csi/v1/ListSnapshotsRequest.js';
export type { ListSnapshotsResponse } from './generated/csi/v1/ListSnapshotsResponse.js';
export type { ListVolumesRequest__Output as ListVolumesRequest } from './generated/csi/v1/ListVolumesRequest.js';
export type { ListVolumesResponse } from './generated/csi/v1/ListVolumesResponse.js';
export type { ValidateVolumeCapabilitiesRequest__Output as ValidateVolumeCapabilitiesRequest } from './generated/csi/v1/ValidateVolumeCapabilitiesRequest.js';
export type { ValidateVolumeCapabilitiesResponse } from './generated/csi/v1/ValidateVolumeCapabilitiesResponse.js';
export type { CreateVolumeGroupSnapshotRequest__Output as CreateVolumeGroupSnapshotRequest } from './generated/csi/v1/CreateVolumeGroupSnapshotRequest.js';
export type { CreateVolumeGroupSnapshotResponse } from './generated/csi/v1/CreateVolumeGroupSnapshotResponse.js';
export type { DeleteVolumeGroupSnapshotRequest__Output as DeleteVolumeGroupSnapshotRequest } from './generated/csi/v1/DeleteVolumeGroupSnapshotRequest.js';
export type { DeleteVolumeGroupSnapshotResponse } from './generated/csi/v1/DeleteVolumeGroupSnapshotResponse.js';
export type { GetVolumeGroupSnapshotRequest__Output as GetVolumeGroupSnapshotRequest } from './generated/csi/v1/GetVolumeGroupSnapshotRequest.js';
export type { GetVolumeGroupSnapshotResponse } from './generated/csi/v1/GetVolumeGroupSnapshotResponse.js';
export type { GetMetadataAllocatedRequest__Output as GetMetadataAllocatedRequest } from './generated/csi/v1/GetMetadataAllocatedRequest.js';
export type { GetMetadataAllocatedResponse } from './generated/csi/v1/GetMetadataAllocatedResponse.js';
export type { GetMetadataDeltaRequest__Output as GetMetadataDeltaRequest } from './generated/csi/v1/GetMetadataDeltaRequest.js';
export type { GetMetadataDeltaResponse } from './generated/csi/v1/GetMetadataDeltaResponse.js';
export type { NodeExpandVolumeRequest__Output as NodeExpandVolumeRequest } from './generated/csi/v1/NodeExpandVolumeRequest.js';
export type { NodeExpandVolumeResponse } from './generated/csi/v1/NodeExpandVolumeResponse.js';
export type { NodeGetVolumeStatsRequest__Output as NodeGetVolumeStatsRequest } from './generated/csi/v1/NodeGetVolumeStatsRequest.js';
export type { NodeGetVolumeStatsResponse } from './generated/csi/v1/NodeGetVolumeStatsResponse.js';
export type { NodePublishVolumeRequest__Output as NodePublishVolumeRequest } from './generated/csi/v1/NodePublishVolumeRequest.js';
export type { NodePublishVolumeResponse } from './generated/csi/v1/NodePublishVolumeResponse.js';
export type { NodeStageVolumeRequest__Output as NodeStageVolumeRequest } from './generated/csi/v1/NodeStageVolumeRequest.js';
export type { NodeStageVolumeResponse } from './generated/csi/v1/NodeStageVolumeResponse.js';
export type { NodeUnpublishVolumeRequest__Output as NodeUnpublishVolumeRequest } from './generated/csi/v1/NodeUnpublishVolumeRequest.js';
export type { NodeUnpublishVolumeResponse } from './generated/csi/v1/NodeUnpublishVolumeResponse.js';
export type { NodeUnstageVolumeRequest__Output as NodeUnstageVolumeRequest } from './generated/csi/v1/NodeUnstageVolumeRequest.js';
export type { NodeUnstageVolumeResponse } from './generated/csi/v1/NodeUnstageVolumeResponse.js';
export type { ControllerGetCapabilitiesResponse } from './generated/csi/v1/ControllerGetCapabilitiesResponse.js';
export type { GroupControllerGetCapabilitiesResponse } from './generated/csi/v1/GroupControllerGetCapabilitiesResponse.js';
export type { NodeGetCapabilitiesResponse } from './generated/csi/v1/NodeGetCapabilitiesResponse.js';
export type { NodeGetInfoResponse } from './generated/csi/v1/NodeGetInfoResponse.js';

// Requests as a client sends them (every field optional).
export type { NodeExpandVolumeRequest as NodeExpandVolumeRequestIn } from './generated/csi/v1/NodeExpandVolumeRequest.js';
export type { NodeGetVolumeStatsRequest as NodeGetVolumeStatsRequestIn } from './generated/csi/v1/NodeGetVolumeStatsRequest.js';
export type { NodePublishVolumeRequest as NodePublishVolumeRequestIn } from './generated/csi/v1/NodePublishVolumeRequest.js';
export type { NodeStageVolumeRequest as NodeStageVolumeRequestIn } from './generated/csi/v1/NodeStageVolumeRequest.js';
export type { NodeUnpublishVolumeRequest as NodeUnpublishVolumeRequestIn } from './generated/csi/v1/NodeUnpublishVolumeRequest.js';
export type { NodeUnstageVolumeRequest as NodeUnstageVolumeRequestIn } from './generated/csi/v1/NodeUnstageVolumeRequest.js';

// Messages used on their own.
export type { CapacityRange } from './generated/csi/v1/CapacityRange.js';
export type { PluginCapability } from './generated/csi/v1/PluginCapability.js';
export type { ControllerClient } from './generated/csi/v1/Controller.js';
export type { GroupControllerClient } from './generated/csi/v1/GroupController.js';
export type { IdentityClient } from './generated/csi/v1/Identity.js';
export type { NodeClient } from './generated/csi/v1/Node.js';
export type { SnapshotMetadataClient } from './generated/csi/v1/SnapshotMetadata.js';
// Enums, as the string names handlers see and return.
export {
  _csi_v1_VolumeCapability_AccessMode_Mode as AccessModeMode,
  type _csi_v1_VolumeCapability_AccessMode_Mode__Output as AccessModeModeName,
} from './generated/csi/v1/VolumeCapability.js';
export {
  _csi_v1_PluginCapability_Service_Type as PluginServiceType,
  _csi_v1_PluginCapability_VolumeExpansion_Type as VolumeExpansionType,
} from './generated/csi/v1/PluginCapability.js';
export { _csi_v1_ControllerServiceCapability_RPC_Type as ControllerRpcType } from './generated/csi/v1/ControllerServiceCapability.js';
export { _csi_v1_NodeServiceCapability_RPC_Type as NodeRpcType } from './generated/csi/v1/NodeServiceCapability.js';
export { _csi_v1_VolumeUsage_Unit as VolumeUsageUnit } from './generated/csi/v1/VolumeUsage.js';

/** What the wire gives a handler besides the request. */
export interface CallContext {
  /** `Service.Method`, e.g. `Controller.CreateVolume`. */
  readonly method: string;
  /** Aborts when the client cancels or the deadline passes. */
  readonly signal: AbortSignal;
  /** The client's deadline, if it sent one. */
  readonly deadline: Date | undefined;
  /** gRPC metadata sent by the client. */
  readonly metadata: grpc.Metadata;
  /** What the request locks need of this call: hand it to `ctx.locks.runFor` (design: Pool lock and concurrency). */
  readonly scope: RequestScope;
}

/** One unary CSI method as the service layer implements it. Throw a QuarryError to answer with its code. */
export type Handler<Req, Res> = (req: Req, ctx: CallContext) => Promise<Res>;

type UnaryHandlers<G> = {
  [K in keyof G as string extends K ? never : K]?: G[K] extends grpc.handleUnaryCall<infer Req, infer Res> ? Handler<Req, Res> : never;
};

/** Handlers per service. Any method left out answers UNIMPLEMENTED. */
export type IdentityHandlers = UnaryHandlers<GeneratedIdentityHandlers>;
export type ControllerHandlers = UnaryHandlers<GeneratedControllerHandlers>;
export type GroupControllerHandlers = UnaryHandlers<GeneratedGroupControllerHandlers>;
export type NodeHandlers = UnaryHandlers<GeneratedNodeHandlers>;

/**
 * One server-streaming CSI method as the service layer implements it: the messages to send, in
 * order. Throwing before the first message answers with the error's code and no message.
 */
export type StreamHandler<Req, Res> = (req: Req, ctx: CallContext) => AsyncIterable<Res>;

type StreamingHandlers<G> = {
  [K in keyof G as string extends K ? never : K]?: G[K] extends grpc.handleServerStreamingCall<infer Req, infer Res>
    ? StreamHandler<Req, Res>
    : never;
};

export type SnapshotMetadataHandlers = StreamingHandlers<GeneratedSnapshotMetadataHandlers>;
