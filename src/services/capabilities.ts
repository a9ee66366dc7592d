import { invalidArgument } from '../domain/errors.js';
import { ACCESS_MODES, FS_TYPES, isMultiNodeWriter, type AccessMode, type Capability, type FsType } from '../domain/volume.js';

/**
 * The wire shape of a VolumeCapability, as the loader decodes it. Wider than the generated type on
 * purpose: an enum value this proto does not know arrives as a number or a foreign name, and must be
 * refused with INVALID_ARGUMENT rather than assumed away. The generated request types fit it.
 */
export interface WireVolumeCapability {
  block?: object | null;
  mount?: { fs_type?: string; mount_flags?: string[]; volume_mount_group?: string } | null;
  access_mode?: { mode?: string | number } | null;
  access_type?: string;
}

/** Decodes one capability and applies Quarry's access-mode rules (design: Access modes). */
export function decodeCapability(cap: WireVolumeCapability | null | undefined): Capability {
  if (!cap) throw invalidArgument('volume capability is missing');
  const mode = cap.access_mode?.mode;
  if (typeof mode !== 'string' || !ACCESS_MODES.includes(mode as AccessMode)) {
    throw invalidArgument('volume capability needs an access_mode (SINGLE_NODE_WRITER, for example)');
  }
  const accessMode = mode as AccessMode;
  if (cap.block) {
    if (!accessMode.startsWith('SINGLE_NODE_')) {
      throw invalidArgument(`block volumes support single-node access modes only, not ${accessMode}`);
    }
    checkNotMultiWriter(accessMode);
    return { accessType: 'block', accessMode };
  }
  if (cap.mount) {
    checkNotMultiWriter(accessMode);
    const fsType = cap.mount.fs_type ?? '';
    if (fsType && !FS_TYPES.includes(fsType as FsType)) {
      throw invalidArgument(`filesystem "${fsType}" is not supported; use one of ${FS_TYPES.join(', ')}`);
    }
    return { accessType: 'mount', accessMode, fsType, mountFlags: cap.mount.mount_flags ?? [] };
  }
  throw invalidArgument('volume capability needs an access_type: mount or block');
}

export function decodeCapabilities(caps: WireVolumeCapability[] | null | undefined): Capability[] {
  if (!caps || caps.length === 0) throw invalidArgument('volume_capabilities must not be empty');
  return caps.map(decodeCapability);
}

function checkNotMultiWriter(mode: AccessMode): void {
  if (isMultiNodeWriter(mode)) {
    throw invalidArgument(
      `${mode} is refused: a Quarry volume is a local filesystem or block device that only one node may write; ` +
        `use a single-node or read-only access mode`,
    );
  }
}
