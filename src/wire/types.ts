/**
 * Names for the CSI messages as Quarry's handlers see them. The shapes come from
 * proto-loader-gen-types (src/wire/generated, built by `npm run build`) with the loader options
 * of ./proto.ts: snake_case field names, enums as their string names, int64 as JS numbers,
 * defaults filled in, and a virtual string field per oneof naming the member that is set.
 *
 * - `XxxRequest` is the decoded request a handler receives (every field present).
 * - `XxxResponse` is what a handler returns (every field optional; enums as names or numbers).
 * - `XxxRequestIn` / `XxxResponseOut` are the client's side of the same call, for tests and tools.
 */
import type * as grpc from '@grpc/grpc-js';
import type {
  GetPluginInfoRequest as GetPluginInfoRequest__In,
  GetPluginInfoRequest__Output,
} from './generated/csi/v1/GetPluginInfoRequest.js';
import type {
  GetPluginInfoResponse as GetPluginInfoResponse__In,
  GetPluginInfoResponse__Output,
} from './generated/csi/v1/GetPluginInfoResponse.js';
import type {
  GetPluginCapabilitiesRequest as GetPluginCapabilitiesRequest__In,
  GetPluginCapabilitiesRequest__Output,
} from './generated/csi/v1/GetPluginCapabilitiesRequest.js';
import type {
  GetPluginCapabilitiesResponse as GetPluginCapabilitiesResponse__In,
  GetPluginCapabilitiesResponse__Output,
} from './generated/csi/v1/GetPluginCapabilitiesResponse.js';
import type { ProbeRequest as ProbeRequest__In, ProbeRequest__Output } from './generated/csi/v1/ProbeRequest.js';
import type { ProbeResponse as ProbeResponse__In, ProbeResponse__Output } from './generated/csi/v1/ProbeResponse.js';
import type {
  CreateVolumeRequest as CreateVolumeRequest__In,
  CreateVolumeRequest__Output,
} from './generated/csi/v1/CreateVolumeRequest.js';
import type {
  CreateVolumeResponse as CreateVolumeResponse__In,
  CreateVolumeResponse__Output,
} from './generated/csi/v1/CreateVolumeResponse.js';
import type {
  DeleteVolumeRequest as DeleteVolumeRequest__In,
  DeleteVolumeRequest__Output,
} from './generated/csi/v1/DeleteVolumeRequest.js';
import type {
  DeleteVolumeResponse as DeleteVolumeResponse__In,
  DeleteVolumeResponse__Output,
} from './generated/csi/v1/DeleteVolumeResponse.js';
import type {
  ControllerPublishVolumeRequest as ControllerPublishVolumeRequest__In,
  ControllerPublishVolumeRequest__Output,
} from './generated/csi/v1/ControllerPublishVolumeRequest.js';
import type {
  ControllerPublishVolumeResponse as ControllerPublishVolumeResponse__In,
  ControllerPublishVolumeResponse__Output,
} from './generated/csi/v1/ControllerPublishVolumeResponse.js';
import type {
  ControllerUnpublishVolumeRequest as ControllerUnpublishVolumeRequest__In,
  ControllerUnpublishVolumeRequest__Output,
} from './generated/csi/v1/ControllerUnpublishVolumeRequest.js';
import type {
  ControllerUnpublishVolumeResponse as ControllerUnpublishVolumeResponse__In,
  ControllerUnpublishVolumeResponse__Output,
} from './generated/csi/v1/ControllerUnpublishVolumeResponse.js';
import type {
  ValidateVolumeCapabilitiesRequest as ValidateVolumeCapabilitiesRequest__In,
  ValidateVolumeCapabilitiesRequest__Output,
} from './generated/csi/v1/ValidateVolumeCapabilitiesRequest.js';
import type {
  ValidateVolumeCapabilitiesResponse as ValidateVolumeCapabilitiesResponse__In,
  ValidateVolumeCapabilitiesResponse__Output,
} from './generated/csi/v1/ValidateVolumeCapabilitiesResponse.js';
import type { ListVolumesRequest as ListVolumesRequest__In, ListVolumesRequest__Output } from './generated/csi/v1/ListVolumesRequest.js';
import type {
  ListVolumesResponse as ListVolumesResponse__In,
  ListVolumesResponse__Output,
} from './generated/csi/v1/ListVolumesResponse.js';
import type { GetCapacityRequest as GetCapacityRequest__In, GetCapacityRequest__Output } from './generated/csi/v1/GetCapacityRequest.js';
import type {
  GetCapacityResponse as GetCapacityResponse__In,
  GetCapacityResponse__Output,
} from './generated/csi/v1/GetCapacityResponse.js';
import type {
  ControllerGetCapabilitiesRequest as ControllerGetCapabilitiesRequest__In,
  ControllerGetCapabilitiesRequest__Output,
} from './generated/csi/v1/ControllerGetCapabilitiesRequest.js';
import type {
  ControllerGetCapabilitiesResponse as ControllerGetCapabilitiesResponse__In,
  ControllerGetCapabilitiesResponse__Output,
} from './generated/csi/v1/ControllerGetCapabilitiesResponse.js';
import type {
  CreateSnapshotRequest as CreateSnapshotRequest__In,
  CreateSnapshotRequest__Output,
} from './generated/csi/v1/CreateSnapshotRequest.js';
import type {
  CreateSnapshotResponse as CreateSnapshotResponse__In,
  CreateSnapshotResponse__Output,
} from './generated/csi/v1/CreateSnapshotResponse.js';
import type {
  DeleteSnapshotRequest as DeleteSnapshotRequest__In,
  DeleteSnapshotRequest__Output,
} from './generated/csi/v1/DeleteSnapshotRequest.js';
import type {
  DeleteSnapshotResponse as DeleteSnapshotResponse__In,
  DeleteSnapshotResponse__Output,
} from './generated/csi/v1/DeleteSnapshotResponse.js';
import type {
  ListSnapshotsRequest as ListSnapshotsRequest__In,
  ListSnapshotsRequest__Output,
} from './generated/csi/v1/ListSnapshotsRequest.js';
import type {
  ListSnapshotsResponse as ListSnapshotsResponse__In,
  ListSnapshotsResponse__Output,
} from './generated/csi/v1/ListSnapshotsResponse.js';
import type { GetSnapshotRequest as GetSnapshotRequest__In, GetSnapshotRequest__Output } from './generated/csi/v1/GetSnapshotRequest.js';
import type {
  GetSnapshotResponse as GetSnapshotResponse__In,
  GetSnapshotResponse__Output,
} from './generated/csi/v1/GetSnapshotResponse.js';
import type {
  ControllerExpandVolumeRequest as ControllerExpandVolumeRequest__In,
  ControllerExpandVolumeRequest__Output,
} from './generated/csi/v1/ControllerExpandVolumeRequest.js';
import type {
  ControllerExpandVolumeResponse as ControllerExpandVolumeResponse__In,
  ControllerExpandVolumeResponse__Output,
} from './generated/csi/v1/ControllerExpandVolumeResponse.js';
import type {
  ControllerGetVolumeRequest as ControllerGetVolumeRequest__In,
  ControllerGetVolumeRequest__Output,
} from './generated/csi/v1/ControllerGetVolumeRequest.js';
import type {
  ControllerGetVolumeResponse as ControllerGetVolumeResponse__In,
  ControllerGetVolumeResponse__Output,
} from './generated/csi/v1/ControllerGetVolumeResponse.js';
import type {
  ControllerModifyVolumeRequest as ControllerModifyVolumeRequest__In,
  ControllerModifyVolumeRequest__Output,
} from './generated/csi/v1/ControllerModifyVolumeRequest.js';
import type {
  ControllerModifyVolumeResponse as ControllerModifyVolumeResponse__In,
  ControllerModifyVolumeResponse__Output,
} from './generated/csi/v1/ControllerModifyVolumeResponse.js';
import type {
  GroupControllerGetCapabilitiesRequest as GroupControllerGetCapabilitiesRequest__In,
  GroupControllerGetCapabilitiesRequest__Output,
} from './generated/csi/v1/GroupControllerGetCapabilitiesRequest.js';
import type {
  GroupControllerGetCapabilitiesResponse as GroupControllerGetCapabilitiesResponse__In,
  GroupControllerGetCapabilitiesResponse__Output,
} from './generated/csi/v1/GroupControllerGetCapabilitiesResponse.js';
import type {
  CreateVolumeGroupSnapshotRequest as CreateVolumeGroupSnapshotRequest__In,
  CreateVolumeGroupSnapshotRequest__Output,
} from './generated/csi/v1/CreateVolumeGroupSnapshotRequest.js';
import type {
  CreateVolumeGroupSnapshotResponse as CreateVolumeGroupSnapshotResponse__In,
  CreateVolumeGroupSnapshotResponse__Output,
} from './generated/csi/v1/CreateVolumeGroupSnapshotResponse.js';
import type {
  DeleteVolumeGroupSnapshotRequest as DeleteVolumeGroupSnapshotRequest__In,
  DeleteVolumeGroupSnapshotRequest__Output,
} from './generated/csi/v1/DeleteVolumeGroupSnapshotRequest.js';
import type {
  DeleteVolumeGroupSnapshotResponse as DeleteVolumeGroupSnapshotResponse__In,
  DeleteVolumeGroupSnapshotResponse__Output,
} from './generated/csi/v1/DeleteVolumeGroupSnapshotResponse.js';
import type {
  GetVolumeGroupSnapshotRequest as GetVolumeGroupSnapshotRequest__In,
  GetVolumeGroupSnapshotRequest__Output,
} from './generated/csi/v1/GetVolumeGroupSnapshotRequest.js';
import type {
  GetVolumeGroupSnapshotResponse as GetVolumeGroupSnapshotResponse__In,
  GetVolumeGroupSnapshotResponse__Output,
} from './generated/csi/v1/GetVolumeGroupSnapshotResponse.js';
import type {
  GetMetadataAllocatedRequest as GetMetadataAllocatedRequest__In,
  GetMetadataAllocatedRequest__Output,
} from './generated/csi/v1/GetMetadataAllocatedRequest.js';
import type {
  GetMetadataAllocatedResponse as GetMetadataAllocatedResponse__In,
  GetMetadataAllocatedResponse__Output,
} from './generated/csi/v1/GetMetadataAllocatedResponse.js';
import type {
  GetMetadataDeltaRequest as GetMetadataDeltaRequest__In,
  GetMetadataDeltaRequest__Output,
} from './generated/csi/v1/GetMetadataDeltaRequest.js';
import type {
  GetMetadataDeltaResponse as GetMetadataDeltaResponse__In,
  GetMetadataDeltaResponse__Output,
} from './generated/csi/v1/GetMetadataDeltaResponse.js';
import type {
  NodeStageVolumeRequest as NodeStageVolumeRequest__In,
  NodeStageVolumeRequest__Output,
} from './generated/csi/v1/NodeStageVolumeRequest.js';
import type {
  NodeStageVolumeResponse as NodeStageVolumeResponse__In,
  NodeStageVolumeResponse__Output,
} from './generated/csi/v1/NodeStageVolumeResponse.js';
import type {
  NodeUnstageVolumeRequest as NodeUnstageVolumeRequest__In,
  NodeUnstageVolumeRequest__Output,
} from './generated/csi/v1/NodeUnstageVolumeRequest.js';
import type {
  NodeUnstageVolumeResponse as NodeUnstageVolumeResponse__In,
  NodeUnstageVolumeResponse__Output,
} from './generated/csi/v1/NodeUnstageVolumeResponse.js';
import type {
  NodePublishVolumeRequest as NodePublishVolumeRequest__In,
  NodePublishVolumeRequest__Output,
} from './generated/csi/v1/NodePublishVolumeRequest.js';
import type {
  NodePublishVolumeResponse as NodePublishVolumeResponse__In,
  NodePublishVolumeResponse__Output,
} from './generated/csi/v1/NodePublishVolumeResponse.js';
import type {
  NodeUnpublishVolumeRequest as NodeUnpublishVolumeRequest__In,
  NodeUnpublishVolumeRequest__Output,
} from './generated/csi/v1/NodeUnpublishVolumeRequest.js';
import type {
  NodeUnpublishVolumeResponse as NodeUnpublishVolumeResponse__In,
  NodeUnpublishVolumeResponse__Output,
} from './generated/csi/v1/NodeUnpublishVolumeResponse.js';
import type {
  NodeGetVolumeStatsRequest as NodeGetVolumeStatsRequest__In,
  NodeGetVolumeStatsRequest__Output,
} from './generated/csi/v1/NodeGetVolumeStatsRequest.js';
import type {
  NodeGetVolumeStatsResponse as NodeGetVolumeStatsResponse__In,
  NodeGetVolumeStatsResponse__Output,
} from './generated/csi/v1/NodeGetVolumeStatsResponse.js';
import type {
  NodeExpandVolumeRequest as NodeExpandVolumeRequest__In,
  NodeExpandVolumeRequest__Output,
} from './generated/csi/v1/NodeExpandVolumeRequest.js';
import type {
  NodeExpandVolumeResponse as NodeExpandVolumeResponse__In,
  NodeExpandVolumeResponse__Output,
} from './generated/csi/v1/NodeExpandVolumeResponse.js';
import type {
  NodeGetCapabilitiesRequest as NodeGetCapabilitiesRequest__In,
  NodeGetCapabilitiesRequest__Output,
} from './generated/csi/v1/NodeGetCapabilitiesRequest.js';
import type {
  NodeGetCapabilitiesResponse as NodeGetCapabilitiesResponse__In,
  NodeGetCapabilitiesResponse__Output,
} from './generated/csi/v1/NodeGetCapabilitiesResponse.js';
import type { NodeGetInfoRequest as NodeGetInfoRequest__In, NodeGetInfoRequest__Output } from './generated/csi/v1/NodeGetInfoRequest.js';
import type {
  NodeGetInfoResponse as NodeGetInfoResponse__In,
  NodeGetInfoResponse__Output,
} from './generated/csi/v1/NodeGetInfoResponse.js';
import type { IdentityClient, IdentityHandlers as GeneratedIdentityHandlers } from './generated/csi/v1/Identity.js';
import type { ControllerClient, ControllerHandlers as GeneratedControllerHandlers } from './generated/csi/v1/Controller.js';
import type {
  GroupControllerClient,
  GroupControllerHandlers as GeneratedGroupControllerHandlers,
} from './generated/csi/v1/GroupController.js';
import type { SnapshotMetadataClient } from './generated/csi/v1/SnapshotMetadata.js';
import type { NodeClient, NodeHandlers as GeneratedNodeHandlers } from './generated/csi/v1/Node.js';

// Identity
export type GetPluginInfoRequest = GetPluginInfoRequest__Output;
export type GetPluginInfoRequestIn = GetPluginInfoRequest__In;
export type GetPluginInfoResponse = GetPluginInfoResponse__In;
export type GetPluginInfoResponseOut = GetPluginInfoResponse__Output;
export type GetPluginCapabilitiesRequest = GetPluginCapabilitiesRequest__Output;
export type GetPluginCapabilitiesRequestIn = GetPluginCapabilitiesRequest__In;
export type GetPluginCapabilitiesResponse = GetPluginCapabilitiesResponse__In;
export type GetPluginCapabilitiesResponseOut = GetPluginCapabilitiesResponse__Output;
export type ProbeRequest = ProbeRequest__Output;
export type ProbeRequestIn = ProbeRequest__In;
export type ProbeResponse = ProbeResponse__In;
export type ProbeResponseOut = ProbeResponse__Output;

// Controller
export type CreateVolumeRequest = CreateVolumeRequest__Output;
export type CreateVolumeRequestIn = CreateVolumeRequest__In;
export type CreateVolumeResponse = CreateVolumeResponse__In;
export type CreateVolumeResponseOut = CreateVolumeResponse__Output;
export type DeleteVolumeRequest = DeleteVolumeRequest__Output;
export type DeleteVolumeRequestIn = DeleteVolumeRequest__In;
export type DeleteVolumeResponse = DeleteVolumeResponse__In;
export type DeleteVolumeResponseOut = DeleteVolumeResponse__Output;
export type ControllerPublishVolumeRequest = ControllerPublishVolumeRequest__Output;
export type ControllerPublishVolumeRequestIn = ControllerPublishVolumeRequest__In;
export type ControllerPublishVolumeResponse = ControllerPublishVolumeResponse__In;
export type ControllerPublishVolumeResponseOut = ControllerPublishVolumeResponse__Output;
export type ControllerUnpublishVolumeRequest = ControllerUnpublishVolumeRequest__Output;
export type ControllerUnpublishVolumeRequestIn = ControllerUnpublishVolumeRequest__In;
export type ControllerUnpublishVolumeResponse = ControllerUnpublishVolumeResponse__In;
export type ControllerUnpublishVolumeResponseOut = ControllerUnpublishVolumeResponse__Output;
export type ValidateVolumeCapabilitiesRequest = ValidateVolumeCapabilitiesRequest__Output;
export type ValidateVolumeCapabilitiesRequestIn = ValidateVolumeCapabilitiesRequest__In;
export type ValidateVolumeCapabilitiesResponse = ValidateVolumeCapabilitiesResponse__In;
export type ValidateVolumeCapabilitiesResponseOut = ValidateVolumeCapabilitiesResponse__Output;
export type ListVolumesRequest = ListVolumesRequest__Output;
export type ListVolumesRequestIn = ListVolumesRequest__In;
export type ListVolumesResponse = ListVolumesResponse__In;
export type ListVolumesResponseOut = ListVolumesResponse__Output;
export type GetCapacityRequest = GetCapacityRequest__Output;
export type GetCapacityRequestIn = GetCapacityRequest__In;
export type GetCapacityResponse = GetCapacityResponse__In;
export type GetCapacityResponseOut = GetCapacityResponse__Output;
export type ControllerGetCapabilitiesRequest = ControllerGetCapabilitiesRequest__Output;
export type ControllerGetCapabilitiesRequestIn = ControllerGetCapabilitiesRequest__In;
export type ControllerGetCapabilitiesResponse = ControllerGetCapabilitiesResponse__In;
export type ControllerGetCapabilitiesResponseOut = ControllerGetCapabilitiesResponse__Output;
export type CreateSnapshotRequest = CreateSnapshotRequest__Output;
export type CreateSnapshotRequestIn = CreateSnapshotRequest__In;
export type CreateSnapshotResponse = CreateSnapshotResponse__In;
export type CreateSnapshotResponseOut = CreateSnapshotResponse__Output;
export type DeleteSnapshotRequest = DeleteSnapshotRequest__Output;
export type DeleteSnapshotRequestIn = DeleteSnapshotRequest__In;
export type DeleteSnapshotResponse = DeleteSnapshotResponse__In;
export type DeleteSnapshotResponseOut = DeleteSnapshotResponse__Output;
export type ListSnapshotsRequest = ListSnapshotsRequest__Output;
export type ListSnapshotsRequestIn = ListSnapshotsRequest__In;
export type ListSnapshotsResponse = ListSnapshotsResponse__In;
export type ListSnapshotsResponseOut = ListSnapshotsResponse__Output;
export type GetSnapshotRequest = GetSnapshotRequest__Output;
export type GetSnapshotRequestIn = GetSnapshotRequest__In;
export type GetSnapshotResponse = GetSnapshotResponse__In;
export type GetSnapshotResponseOut = GetSnapshotResponse__Output;
export type ControllerExpandVolumeRequest = ControllerExpandVolumeRequest__Output;
export type ControllerExpandVolumeRequestIn = ControllerExpandVolumeRequest__In;
export type ControllerExpandVolumeResponse = ControllerExpandVolumeResponse__In;
export type ControllerExpandVolumeResponseOut = ControllerExpandVolumeResponse__Output;
export type ControllerGetVolumeRequest = ControllerGetVolumeRequest__Output;
export type ControllerGetVolumeRequestIn = ControllerGetVolumeRequest__In;
export type ControllerGetVolumeResponse = ControllerGetVolumeResponse__In;
export type ControllerGetVolumeResponseOut = ControllerGetVolumeResponse__Output;
export type ControllerModifyVolumeRequest = ControllerModifyVolumeRequest__Output;
export type ControllerModifyVolumeRequestIn = ControllerModifyVolumeRequest__In;
export type ControllerModifyVolumeResponse = ControllerModifyVolumeResponse__In;
export type ControllerModifyVolumeResponseOut = ControllerModifyVolumeResponse__Output;

// GroupController
export type GroupControllerGetCapabilitiesRequest = GroupControllerGetCapabilitiesRequest__Output;
export type GroupControllerGetCapabilitiesRequestIn = GroupControllerGetCapabilitiesRequest__In;
export type GroupControllerGetCapabilitiesResponse = GroupControllerGetCapabilitiesResponse__In;
export type GroupControllerGetCapabilitiesResponseOut = GroupControllerGetCapabilitiesResponse__Output;
export type CreateVolumeGroupSnapshotRequest = CreateVolumeGroupSnapshotRequest__Output;
export type CreateVolumeGroupSnapshotRequestIn = CreateVolumeGroupSnapshotRequest__In;
export type CreateVolumeGroupSnapshotResponse = CreateVolumeGroupSnapshotResponse__In;
export type CreateVolumeGroupSnapshotResponseOut = CreateVolumeGroupSnapshotResponse__Output;
export type DeleteVolumeGroupSnapshotRequest = DeleteVolumeGroupSnapshotRequest__Output;
export type DeleteVolumeGroupSnapshotRequestIn = DeleteVolumeGroupSnapshotRequest__In;
export type DeleteVolumeGroupSnapshotResponse = DeleteVolumeGroupSnapshotResponse__In;
export type DeleteVolumeGroupSnapshotResponseOut = DeleteVolumeGroupSnapshotResponse__Output;
export type GetVolumeGroupSnapshotRequest = GetVolumeGroupSnapshotRequest__Output;
export type GetVolumeGroupSnapshotRequestIn = GetVolumeGroupSnapshotRequest__In;
export type GetVolumeGroupSnapshotResponse = GetVolumeGroupSnapshotResponse__In;
export type GetVolumeGroupSnapshotResponseOut = GetVolumeGroupSnapshotResponse__Output;

// SnapshotMetadata
export type GetMetadataAllocatedRequest = GetMetadataAllocatedRequest__Output;
export type GetMetadataAllocatedRequestIn = GetMetadataAllocatedRequest__In;
export type GetMetadataAllocatedResponse = GetMetadataAllocatedResponse__In;
export type GetMetadataAllocatedResponseOut = GetMetadataAllocatedResponse__Output;
export type GetMetadataDeltaRequest = GetMetadataDeltaRequest__Output;
export type GetMetadataDeltaRequestIn = GetMetadataDeltaRequest__In;
export type GetMetadataDeltaResponse = GetMetadataDeltaResponse__In;
export type GetMetadataDeltaResponseOut = GetMetadataDeltaResponse__Output;

// Node
export type NodeStageVolumeRequest = NodeStageVolumeRequest__Output;
export type NodeStageVolumeRequestIn = NodeStageVolumeRequest__In;
export type NodeStageVolumeResponse = NodeStageVolumeResponse__In;
export type NodeStageVolumeResponseOut = NodeStageVolumeResponse__Output;
export type NodeUnstageVolumeRequest = NodeUnstageVolumeRequest__Output;
export type NodeUnstageVolumeRequestIn = NodeUnstageVolumeRequest__In;
export type NodeUnstageVolumeResponse = NodeUnstageVolumeResponse__In;
export type NodeUnstageVolumeResponseOut = NodeUnstageVolumeResponse__Output;
export type NodePublishVolumeRequest = NodePublishVolumeRequest__Output;
export type NodePublishVolumeRequestIn = NodePublishVolumeRequest__In;
export type NodePublishVolumeResponse = NodePublishVolumeResponse__In;
export type NodePublishVolumeResponseOut = NodePublishVolumeResponse__Output;
export type NodeUnpublishVolumeRequest = NodeUnpublishVolumeRequest__Output;
export type NodeUnpublishVolumeRequestIn = NodeUnpublishVolumeRequest__In;
export type NodeUnpublishVolumeResponse = NodeUnpublishVolumeResponse__In;
export type NodeUnpublishVolumeResponseOut = NodeUnpublishVolumeResponse__Output;
export type NodeGetVolumeStatsRequest = NodeGetVolumeStatsRequest__Output;
export type NodeGetVolumeStatsRequestIn = NodeGetVolumeStatsRequest__In;
export type NodeGetVolumeStatsResponse = NodeGetVolumeStatsResponse__In;
export type NodeGetVolumeStatsResponseOut = NodeGetVolumeStatsResponse__Output;
export type NodeExpandVolumeRequest = NodeExpandVolumeRequest__Output;
export type NodeExpandVolumeRequestIn = NodeExpandVolumeRequest__In;
export type NodeExpandVolumeResponse = NodeExpandVolumeResponse__In;
export type NodeExpandVolumeResponseOut = NodeExpandVolumeResponse__Output;
export type NodeGetCapabilitiesRequest = NodeGetCapabilitiesRequest__Output;
export type NodeGetCapabilitiesRequestIn = NodeGetCapabilitiesRequest__In;
export type NodeGetCapabilitiesResponse = NodeGetCapabilitiesResponse__In;
export type NodeGetCapabilitiesResponseOut = NodeGetCapabilitiesResponse__Output;
export type NodeGetInfoRequest = NodeGetInfoRequest__Output;
export type NodeGetInfoRequestIn = NodeGetInfoRequest__In;
export type NodeGetInfoResponse = NodeGetInfoResponse__In;
export type NodeGetInfoResponseOut = NodeGetInfoResponse__Output;

export type { IdentityClient, ControllerClient, GroupControllerClient, SnapshotMetadataClient, NodeClient };

export type { VolumeCapability, VolumeCapability__Output } from './generated/csi/v1/VolumeCapability.js';
export type { Volume, Volume__Output } from './generated/csi/v1/Volume.js';
export type { Snapshot, Snapshot__Output } from './generated/csi/v1/Snapshot.js';
export type { Topology, Topology__Output } from './generated/csi/v1/Topology.js';
export type { TopologyRequirement, TopologyRequirement__Output } from './generated/csi/v1/TopologyRequirement.js';
export type { CapacityRange, CapacityRange__Output } from './generated/csi/v1/CapacityRange.js';
export type { VolumeContentSource, VolumeContentSource__Output } from './generated/csi/v1/VolumeContentSource.js';
export type { PluginCapability, PluginCapability__Output } from './generated/csi/v1/PluginCapability.js';
export type { ControllerServiceCapability, ControllerServiceCapability__Output } from './generated/csi/v1/ControllerServiceCapability.js';
export type { NodeServiceCapability, NodeServiceCapability__Output } from './generated/csi/v1/NodeServiceCapability.js';
export type {
  GroupControllerServiceCapability,
  GroupControllerServiceCapability__Output,
} from './generated/csi/v1/GroupControllerServiceCapability.js';
export type { VolumeUsage, VolumeUsage__Output } from './generated/csi/v1/VolumeUsage.js';
export type { VolumeCondition, VolumeCondition__Output } from './generated/csi/v1/VolumeCondition.js';
export type { VolumeGroupSnapshot, VolumeGroupSnapshot__Output } from './generated/csi/v1/VolumeGroupSnapshot.js';

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
