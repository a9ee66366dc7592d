// Reads the process's effective capabilities from /proc/self/status (no tool).
import { readFile } from 'node:fs/promises';

/** CAP_SYS_RESOURCE: the kernel's online ext4 resize (EXT4_IOC_RESIZE_FS) requires it. */
export const CAP_SYS_RESOURCE = 24;

export function parseEffectiveCapabilities(status: string): bigint {
  const m = /^CapEff:\s*([0-9a-f]+)$/m.exec(status);
  if (!m) throw new Error('no CapEff line in /proc/self/status');
  return BigInt(`0x${m[1]}`);
}

export async function hasCapability(cap: number, statusFile = '/proc/self/status'): Promise<boolean> {
  const eff = parseEffectiveCapabilities(await readFile(statusFile, 'utf8'));
  return (eff & (1n << BigInt(cap))) !== 0n;
}
