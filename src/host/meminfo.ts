// Reads /proc/meminfo (no tool): how much file data the whole host has not yet written to its devices.
import { readFileSync } from 'node:fs';

export const PROC_MEMINFO_PATH = '/proc/meminfo';

/** Dirty + Writeback in bytes from /proc/meminfo's text ("Dirty:  1234 kB"); undefined when either line is missing. */
export function parseUnwrittenBytes(text: string): number | undefined {
  const kib = (field: string) => {
    const m = new RegExp(`^${field}:\\s+(\\d+) kB$`, 'm').exec(text);
    return m ? Number(m[1]) : undefined;
  };
  const dirty = kib('Dirty');
  const writeback = kib('Writeback');
  return dirty === undefined || writeback === undefined ? undefined : (dirty + writeback) * 1024;
}

/**
 * The host's file data still to be written (Dirty + Writeback, every filesystem together), or
 * undefined when it cannot be read. Synchronous: the file is a few kilobytes made by the kernel on
 * read, tens of microseconds, where a libuv request and its promise cost more CPU than the read.
 */
export function hostUnwrittenBytes(file = PROC_MEMINFO_PATH): number | undefined {
  try {
    return parseUnwrittenBytes(readFileSync(file, 'utf8'));
  } catch {
    return undefined;
  }
}
