import { failedPrecondition } from '../../domain/errors.js';
import type { Capability } from '../../domain/volume.js';
import type { AttachmentRecord, VolumeRecord } from '../../storage/records.js';
import type { ServiceContext } from '../context.js';

/** publish_context key under which ControllerPublishVolume hands the node its attachment token. */
export const ATTACHMENT_TOKEN_KEY = 'quarry.csi.dev/attachment-token';

/**
 * Shared mode fencing: a node stages only what the pool records as attached to
 * it, with the token of the current attachment. A node that was cut off and
 * replaced holds an old token and is refused.
 */
export function checkAttachment(
  ctx: ServiceContext,
  record: VolumeRecord,
  publishContext: Record<string, string> | undefined,
): AttachmentRecord | undefined {
  if (ctx.mode !== 'shared') return undefined;
  const attachment = record.attachments.find((a) => a.nodeId === ctx.nodeId);
  if (!attachment) {
    throw failedPrecondition(`volume ${record.id} is not attached to node ${ctx.nodeId}; ControllerPublishVolume must grant it first`);
  }
  if (publishContext?.[ATTACHMENT_TOKEN_KEY] !== attachment.token) {
    throw failedPrecondition(
      `the attachment token for volume ${record.id} on node ${ctx.nodeId} is stale; the volume has been re-attached since`,
    );
  }
  return attachment;
}

/**
 * Shared mode fencing at NodePublishVolume: a node publishes only a volume the pool records as
 * granted to it, so a node whose grant was withdrawn (force-detached) cannot hand the volume to a
 * new pod. A token in the request must be the current one.
 */
export function checkPublishGrant(ctx: ServiceContext, record: VolumeRecord, publishContext: Record<string, string> | undefined): void {
  if (ctx.mode !== 'shared') return;
  const attachment = record.attachments.find((a) => a.nodeId === ctx.nodeId);
  if (!attachment) {
    throw failedPrecondition(
      `volume ${record.id} is not attached to node ${ctx.nodeId}: its grant was withdrawn, so it may not be published here; ` +
        `ControllerPublishVolume must grant it again`,
    );
  }
  const token = publishContext?.[ATTACHMENT_TOKEN_KEY];
  if (token !== undefined && token !== attachment.token) {
    throw failedPrecondition(
      `the attachment token for volume ${record.id} on node ${ctx.nodeId} is stale; the volume has been re-attached since`,
    );
  }
}

/**
 * A read-only grant is staged read-only too: a read-write mount writes the
 * superblock and journal even when nobody writes files, which corrupts a
 * filesystem that another node has mounted at the same time.
 */
export function stagingCapability(cap: Capability, attachment: AttachmentRecord | undefined): { cap: Capability; readOnly: boolean } {
  if (!attachment?.readOnly) return { cap, readOnly: false };
  if (cap.accessType !== 'mount') return { cap, readOnly: true };
  const flags = (cap.mountFlags ?? []).filter((f) => f !== 'rw' && f !== 'ro');
  return { cap: { ...cap, mountFlags: [...flags, 'ro'] }, readOnly: true };
}
