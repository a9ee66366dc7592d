// Checks: loop devices work (a real attach/detach of a tiny sparse file) and whether direct I/O is available on them.
import { constants } from 'node:fs';
import { access, mkdtemp, realpath, rm, truncate, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { MiB } from '../domain/bytes.js';
import { attachLoop, detachLoop, findLoopsByBackingFile, type AttachResult } from '../host/losetup.js';
import { errorText, fail, ok, warn, type CheckResult } from './result.js';

export const LOOP_CONTROL = '/dev/loop-control';
const LOOP_FIX = 'run modprobe loop on the host, or mount the host /dev into the container (privileged, hostPath /dev)';

export interface LoopProbe {
  controlExists: boolean;
  /** The attach result, when the attach worked. */
  attach?: AttachResult;
  attachError?: string;
  detachError?: string;
  /** Where the probe file lived (direct I/O depends on that filesystem). */
  dir: string;
}

/** Turns a probe into the two results: "loop devices" and "loop direct I/O". */
export function decideLoop(p: LoopProbe): CheckResult[] {
  const out: CheckResult[] = [];
  if (!p.controlExists) {
    out.push(fail('loop devices', `${LOOP_CONTROL} does not exist`, LOOP_FIX));
  } else if (p.attachError !== undefined) {
    const perm = /permission denied|operation not permitted|EACCES|EPERM/i.test(p.attachError);
    out.push(
      fail(
        'loop devices',
        `attaching a test file failed: ${p.attachError}`,
        perm ? `run quarry doctor as root (the node plugin runs privileged); ${LOOP_FIX}` : LOOP_FIX,
      ),
    );
  } else if (p.detachError !== undefined) {
    out.push(
      fail(
        'loop devices',
        `attached ${p.attach?.device ?? 'a loop device'} but detaching it failed: ${p.detachError}`,
        'check dmesg for loop errors; detach it with losetup -d',
      ),
    );
  } else {
    out.push(ok('loop devices', `${LOOP_CONTROL} present; attached and detached ${p.attach?.device ?? 'a loop device'}`));
  }
  if (p.attach) {
    out.push(
      p.attach.directIo
        ? ok('loop direct I/O', `available (probe file in ${p.dir})`)
        : warn(
            'loop direct I/O',
            `unavailable for a file in ${p.dir}${p.attach.directIoFallback ? ` (${p.attach.directIoFallback})` : ''}: ` +
              `volumes will go through the page cache twice`,
            'keep pools on a filesystem with O_DIRECT support and 512-byte or 4 KiB logical blocks (ext4, xfs, btrfs)',
          ),
    );
  } else {
    out.push(warn('loop direct I/O', 'not tested: no loop device could be attached'));
  }
  return out;
}

/** Attaches a 1 MiB sparse temp file and detaches it again; the file and any loop over it are always removed. */
export async function probeLoop(baseDir = tmpdir()): Promise<LoopProbe> {
  const controlExists = await access(LOOP_CONTROL, constants.F_OK).then(
    () => true,
    () => false,
  );
  const dir = await realpath(await mkdtemp(join(baseDir, 'quarry-doctor-loop-')));
  const image = join(dir, 'probe.img');
  const probe: LoopProbe = { controlExists, dir: baseDir };
  try {
    if (!controlExists) return probe;
    await writeFile(image, '');
    await truncate(image, MiB);
    try {
      probe.attach = await attachLoop(image, { directIo: true });
    } catch (err) {
      probe.attachError = errorText(err);
      return probe;
    }
    try {
      await detachLoop(probe.attach.device);
    } catch (err) {
      probe.detachError = errorText(err);
    }
    return probe;
  } finally {
    // Whatever happened above: no loop device may stay on our probe file.
    for (const l of await findLoopsByBackingFile(image).catch(() => [])) {
      await detachLoop(l.device).catch(() => undefined);
    }
    await rm(dir, { recursive: true, force: true });
  }
}

export async function checkLoop(): Promise<CheckResult[]> {
  try {
    return decideLoop(await probeLoop());
  } catch (err) {
    return [
      fail('loop devices', `probe failed: ${errorText(err)}`, LOOP_FIX),
      warn('loop direct I/O', 'not tested: the loop probe failed'),
    ];
  }
}
