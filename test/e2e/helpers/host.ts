// Host-side checks for the stories: what is in the pool, which loop devices hold files of the
// pool's filesystem, what is mounted. Loops are matched by the backing file's device (the pool
// filesystem), not by a path string: a loop attached inside a gone pod's mount namespace shows
// its backing file relative to that pod's root, so a path match would miss exactly the leaks.
import { execa } from 'execa';
import { readdir, readFile, stat } from 'node:fs/promises';
import { join } from 'node:path';

/** "major:minor" of the filesystem mounted at `dir`. */
export async function deviceOf(dir: string): Promise<string> {
  const r = await execa('mountpoint', ['-d', dir], { timeout: 10_000 });
  return normalise(r.stdout.trim());
}

/** Loop devices whose backing file lives on the filesystem mounted at `poolDir`. */
export async function loopsOnPool(poolDir: string): Promise<string[]> {
  const dev = await deviceOf(poolDir);
  const r = await execa('losetup', ['--list', '--noheadings', '--output', 'NAME,MAJ:MIN,BACK-MAJ:MIN'], { timeout: 10_000 });
  return r.stdout
    .split('\n')
    .map((l) => l.trim().split(/\s+/))
    .filter((f) => f.length >= 3 && normalise(f[2]!) === dev)
    .map((f) => f[0]!);
}

const normalise = (majmin: string) =>
  majmin
    .split(':')
    .map((n) => String(Number(n)))
    .join(':');

/** Files below the pool's volumes/ and snapshots/ directories. */
export async function poolEntries(poolDir: string): Promise<string[]> {
  const out: string[] = [];
  for (const sub of ['volumes', 'snapshots']) {
    const entries = await readdir(join(poolDir, sub)).catch(() => [] as string[]);
    out.push(...entries.map((e) => `${sub}/${e}`));
  }
  return out;
}

/** Bytes in use on the pool's filesystem. */
export async function poolUsedBytes(poolDir: string): Promise<number> {
  const r = await execa('df', ['--block-size=1', '--output=used', poolDir], { timeout: 10_000 });
  return Number(r.stdout.trim().split('\n')[1]);
}

/** Mount points below `prefix` in this process's mount table. */
export async function mountsBelow(prefix: string): Promise<string[]> {
  const lines = (await readFile('/proc/self/mountinfo', 'utf8')).split('\n');
  return lines.map((l) => l.split(' ')[4]?.replace(/\\040/g, ' ') ?? '').filter((m) => m === prefix || m.startsWith(`${prefix}/`));
}

/** Allocated bytes of a file (st_blocks * 512): thin images are small, thick ones are full. */
export async function allocatedBytes(path: string): Promise<number> {
  return (await stat(path)).blocks * 512;
}
