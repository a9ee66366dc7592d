// Wraps blkid(8) in low-level probe mode (-p): what is on a device, read from the device itself, never from a cache.
import { Code, QuarryError } from '../domain/errors.js';
import { run } from './exec.js';
import { checkDevicePath, mapToolError } from './errors.js';

export type ProbeResult =
  | { kind: 'blank' }
  | { kind: 'filesystem'; fsType: string; uuid?: string; label?: string }
  | { kind: 'partition-table'; ptType: string }
  | { kind: 'other'; type: string; usage?: string };

/** blkid exit codes: 0 found, 2 nothing found, 4 usage or I/O error, 8 ambivalent (several signatures). */
const BLKID_NOTHING = 2;
const BLKID_AMBIVALENT = 8;

/** Parses `blkid -o export` KEY=VALUE lines. Exported for unit tests. */
export function parseBlkidExport(text: string): Record<string, string> {
  const out: Record<string, string> = {};
  for (const line of text.split('\n')) {
    const i = line.indexOf('=');
    if (i > 0) out[line.slice(0, i).trim()] = line.slice(i + 1).trim();
  }
  return out;
}

/** Turns blkid's tags into a ProbeResult. Exported for unit tests. */
export function classifyProbe(tags: Record<string, string>): ProbeResult {
  const { TYPE: type, USAGE: usage, PTTYPE: ptType } = tags;
  if (type && usage === 'filesystem') {
    return { kind: 'filesystem', fsType: type, ...(tags.UUID ? { uuid: tags.UUID } : {}), ...(tags.LABEL ? { label: tags.LABEL } : {}) };
  }
  if (ptType) return { kind: 'partition-table', ptType };
  if (type) return { kind: 'other', type, ...(usage ? { usage } : {}) };
  const keys = Object.keys(tags).filter((k) => k !== 'DEVNAME');
  return keys.length === 0 ? { kind: 'blank' } : { kind: 'other', type: keys.join(',') };
}

/**
 * Low-level probe of `device` (`blkid -p -o export -c /dev/null`): superblocks and partition
 * tables read from the device. Exit 2 (nothing found) is blank; an ambivalent result (several
 * signatures, exit 8) is reported as 'other', never as blank.
 */
export async function probeDevice(device: string, timeoutMs = 30_000): Promise<ProbeResult> {
  checkDevicePath(device);
  let r;
  try {
    r = await run('blkid', ['-p', '-o', 'export', '-c', '/dev/null', device], {
      okExitCodes: [BLKID_NOTHING, BLKID_AMBIVALENT],
      timeoutMs,
    });
  } catch (err) {
    throw mapToolError(err, `probing ${device} with blkid`);
  }
  if (r.exitCode === BLKID_NOTHING) return { kind: 'blank' };
  if (r.exitCode === BLKID_AMBIVALENT) return { kind: 'other', type: `ambivalent: ${(r.stderr || r.stdout).trim().slice(0, 200)}` };
  const result = classifyProbe(parseBlkidExport(r.stdout));
  if (result.kind === 'blank') {
    // exit 0 without a single tag is not something we understand: do not call it blank.
    throw new QuarryError(Code.INTERNAL, `blkid found something on ${device} but reported no type: ${JSON.stringify(r.stdout)}`);
  }
  return result;
}

export function describeProbe(p: ProbeResult): string {
  switch (p.kind) {
    case 'blank':
      return 'nothing';
    case 'filesystem':
      return `a ${p.fsType} filesystem${p.uuid ? ` (UUID ${p.uuid})` : ''}`;
    case 'partition-table':
      return `a ${p.ptType} partition table`;
    case 'other':
      return `a ${p.type} signature`;
  }
}
