import { mkdir, open } from 'node:fs/promises';
import { dirname } from 'node:path';
import { alreadyExists, failedPrecondition, invalidArgument } from '../../domain/errors.js';
import { isReadOnlyMode, type Capability } from '../../domain/volume.js';
import { decodeCapability } from '../capabilities.js';
import type { ServiceContext } from '../context.js';
import type { MountEntry as MountInfoEntry } from '../host-ops.js';
import { requireVolume, requireField, type FoundVolume } from '../lookup.js';
import { ensureNotFrozen } from '../../storage/freeze-sweep.js';
import { currentLoop, ensureLoop, mountsOfImageLoops } from './loop-attachment.js';
import { withPublication } from './node-records.js';
import { describeMount, pathState, topIsOurs } from './ownership.js';
import { checkPublishGrant } from './shared-attachment.js';
import { nodeRequestPath } from './paths.js';
import type { CallContext, NodePublishVolumeRequest, NodePublishVolumeResponse } from '../../wire/types.js';

/** Bind the staged filesystem (or the loop device, for block) at the target path. */
export async function nodePublishVolume(
  ctx: ServiceContext,
  req: NodePublishVolumeRequest,
  call?: CallContext,
): Promise<NodePublishVolumeResponse> {
  const rawId = requireField(req.volume_id, 'volume_id');
  const stagingPath = await nodeRequestPath(ctx.kubeletDir, req.staging_target_path, 'staging_target_path');
  const targetPath = await nodeRequestPath(ctx.kubeletDir, req.target_path, 'target_path');
  if (!req.volume_capability) throw invalidArgument('volume_capability is required');
  const cap = decodeCapability(req.volume_capability);
  const readOnly = Boolean(req.readonly) || isReadOnlyMode(cap.accessMode);
  return ctx.locks.runFor(call?.scope, `volume:${rawId}`, async () => {
    const vol = await requireVolume(ctx, rawId);
    // A filesystem frozen for a copy would hang this call: answer at once (design: Freeze).
    await ensureNotFrozen(vol.pool, vol.record, ctx.nodeId);
    checkPublishGrant(ctx, vol.record, req.publish_context);
    checkSingleWriter(vol, cap, targetPath);
    const source = cap.accessType === 'block' ? await stagedDevice(ctx, vol) : await stagedMount(ctx, vol, stagingPath);
    const existing = await ctx.host.mounts.top(targetPath).catch(() => undefined);
    if (existing) {
      checkSamePublication(vol, existing, readOnly, targetPath, source);
      return {};
    }
    // Recorded before the target is made: unpublish removes only a target the record names.
    await vol.pool.updateVolume(vol.id, (v) =>
      withPublication(v, {
        nodeId: ctx.nodeId!,
        targetPath,
        readOnly,
        accessType: cap.accessType,
        accessMode: cap.accessMode,
        mountFlags: cap.mountFlags ?? [],
      }),
    );
    await prepareTarget(targetPath, cap);
    const from = cap.accessType === 'block' && readOnly ? await ensureLoop(ctx, vol.pool.volumeImagePath(vol.id), true) : source.path;
    await ctx.host.mounts.bind(from, targetPath, { readOnly, options: cap.accessType === 'mount' ? mountFlagsForBind(cap) : [] });
    return {};
  });
}

interface Source {
  path: string;
  /** Whether a mount at the target shows this source. */
  shownBy(m: MountInfoEntry): boolean;
}

async function stagedMount(ctx: ServiceContext, vol: FoundVolume, stagingPath: string): Promise<Source> {
  const state = await pathState(ctx.host, vol, stagingPath);
  const m = state.stack[state.stack.length - 1];
  // Only the volume's own filesystem is ever bound to a pod (design: Node staging).
  if (!m || !topIsOurs(state))
    throw failedPrecondition(
      `volume ${vol.id} is not staged at ${stagingPath}${m ? ` (${describeMount(m)} is mounted there)` : ''}; call NodeStageVolume first`,
    );
  return { path: stagingPath, shownBy: (t) => t.major === m.major && t.minor === m.minor };
}

async function stagedDevice(ctx: ServiceContext, vol: FoundVolume): Promise<Source> {
  const device = await currentLoop(ctx.host, vol.pool.volumeImagePath(vol.id));
  if (!device) throw failedPrecondition(`volume ${vol.id} is not staged on this node; call NodeStageVolume first`);
  const shown = new Set((await mountsOfImageLoops(ctx.host, vol.pool.volumeImagePath(vol.id))).map((m) => m.mountId));
  return { path: device, shownBy: (t) => shown.has(t.mountId) };
}

/** Same target, same volume and same read-only flag: done already. Anything else: ALREADY_EXISTS. */
function checkSamePublication(vol: FoundVolume, m: MountInfoEntry, readOnly: boolean, target: string, source: Source) {
  const isRo = m.options.includes('ro');
  if (!source.shownBy(m) || isRo !== readOnly) {
    throw alreadyExists(`${target} is already published with another volume or other capabilities than volume ${vol.id} now asks for`);
  }
}

/** SINGLE_NODE_SINGLE_WRITER allows one publication, on one target path. */
function checkSingleWriter(vol: FoundVolume, cap: Capability, targetPath: string) {
  const others = vol.record.publications.filter((p) => p.targetPath !== targetPath);
  const single = cap.accessMode === 'SINGLE_NODE_SINGLE_WRITER' || others.some((p) => p.accessMode === 'SINGLE_NODE_SINGLE_WRITER');
  if (single && others.length > 0) {
    throw failedPrecondition(`volume ${vol.id} is SINGLE_NODE_SINGLE_WRITER and already published at ${others[0]!.targetPath}`);
  }
}

async function prepareTarget(targetPath: string, cap: Capability) {
  if (cap.accessType === 'mount') {
    await mkdir(targetPath, { recursive: true });
    return;
  }
  await mkdir(dirname(targetPath), { recursive: true });
  const fd = await open(targetPath, 'a', 0o600);
  await fd.close();
}

/** Per-mount flags that a bind mount can carry; filesystem options were applied at stage. */
function mountFlagsForBind(cap: Capability): string[] {
  const perMount = new Set(['nosuid', 'nodev', 'noexec', 'noatime', 'nodiratime', 'relatime']);
  return (cap.mountFlags ?? []).filter((f) => perMount.has(f));
}
