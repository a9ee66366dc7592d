// Wraps mkfs.ext4, mkfs.xfs and mkfs.btrfs; refuses any device that blkid does not call blank.
import type { FsType } from '../domain/volume.js';
import { Code, QuarryError } from '../domain/errors.js';
import { run } from './exec.js';
import { describeProbe, probeDevice } from './blkid.js';
import { checkDevicePath, mapToolError } from './errors.js';

export interface MkfsOptions {
  /** Extra options as flag/value pairs, e.g. ['-b', '4096']; only allow-listed ones are accepted. */
  options?: string[];
  timeoutMs?: number;
  /**
   * Formats over whatever is on the device (mkfs -f). Only for a device the caller's own record
   * proves it began formatting and never finished: a half-made filesystem that blkid may still
   * report. Never for a device whose history is unknown.
   */
  overwriteUnfinished?: boolean;
  /**
   * The device's backing file is preallocated (a thick volume). ext4 then zeroes its inode tables
   * at mkfs, which keeps the allocation: the kernel's lazy initialiser would zero them later with
   * WRITE_ZEROES, which a loop device turns into punched holes in the image.
   */
  preallocated?: boolean;
}

const LABEL = /^[A-Za-z0-9_-]{1,12}$/;

/** Per filesystem: flag → allowed values. Everything else is INVALID_ARGUMENT. */
const ALLOWED: Record<FsType, Record<string, RegExp>> = {
  ext4: {
    '-b': /^(1024|2048|4096)$/,
    '-I': /^(128|256|512|1024)$/,
    '-i': /^(4096|8192|16384|32768|65536)$/,
    '-L': LABEL,
  },
  xfs: {
    '-m': /^(reflink|crc|bigtime|inobtcount)=[01]$/,
    '-b': /^size=(1024|2048|4096)$/,
    '-s': /^size=(512|4096)$/,
    '-L': LABEL,
  },
  btrfs: {
    '-L': LABEL,
    '-n': /^(4096|8192|16384|32768|65536)$/,
    '-m': /^(single|dup)$/,
    '-d': /^(single|dup)$/,
  },
};

/** Fast defaults: no discard (a fresh image is all holes), lazy inode tables, no reserved blocks. */
const BASE: Record<FsType, string[]> = {
  ext4: ['-F', '-q', '-m', '0', '-E', 'lazy_itable_init=1,lazy_journal_init=1,nodiscard'],
  // No -f: mkfs.xfs and mkfs.btrfs refuse an existing signature themselves, a second line of defence.
  xfs: ['-q', '-K'],
  btrfs: ['-q', '-K'],
};

const EXT4_PREALLOCATED = ['-F', '-q', '-m', '0', '-E', 'lazy_itable_init=0,lazy_journal_init=1,nodiscard'];

const TOOL: Record<FsType, string> = { ext4: 'mkfs.ext4', xfs: 'mkfs.xfs', btrfs: 'mkfs.btrfs' };

export function checkMkfsOptions(fsType: FsType, options: readonly string[]): void {
  const allowed = ALLOWED[fsType];
  if (!allowed) throw new QuarryError(Code.INVALID_ARGUMENT, `unsupported filesystem type ${JSON.stringify(fsType)}`);
  if (options.length % 2 !== 0) {
    throw new QuarryError(Code.INVALID_ARGUMENT, `mkfs options must be flag/value pairs: ${JSON.stringify(options)}`);
  }
  for (let i = 0; i < options.length; i += 2) {
    const flag = options[i]!;
    const value = options[i + 1]!;
    const re = Object.hasOwn(allowed, flag) ? allowed[flag] : undefined;
    if (!re?.test(value)) {
      throw new QuarryError(
        Code.INVALID_ARGUMENT,
        `mkfs option ${flag} ${value} is not allowed for ${fsType}; allowed: ${Object.keys(allowed).join(' ')}`,
      );
    }
  }
}

/**
 * Creates a filesystem on `device`. Right before running mkfs it probes the device with blkid
 * and refuses (FAILED_PRECONDITION) unless the device is blank: Quarry never formats a device
 * that holds a filesystem, a partition table or any other signature.
 */
export async function makeFilesystem(device: string, fsType: FsType, opts: MkfsOptions = {}): Promise<void> {
  checkDevicePath(device);
  const extra = opts.options ?? [];
  checkMkfsOptions(fsType, extra);
  if (!opts.overwriteUnfinished) {
    const probe = await probeDevice(device);
    if (probe.kind !== 'blank') {
      throw new QuarryError(
        Code.FAILED_PRECONDITION,
        `refusing to create ${fsType} on ${device}: it already holds ${describeProbe(probe)}`,
      );
    }
  }
  const force = opts.overwriteUnfinished && fsType !== 'ext4' ? ['-f'] : []; // ext4's BASE has -F already
  const base = opts.preallocated && fsType === 'ext4' ? EXT4_PREALLOCATED : BASE[fsType];
  try {
    await run(TOOL[fsType], [...base, ...force, ...extra, device], { timeoutMs: opts.timeoutMs ?? 300_000 });
  } catch (err) {
    throw mapToolError(err, `creating ${fsType} on ${device}`);
  }
}
