/**
 * Chaos child processes, run as `node writer-child.js <mode> ...`:
 *
 * counter <path> <lastOffset> <stopFile>
 *   Writes counter k (a 4 KiB block starting with k as a decimal line) to offset 0, fdatasyncs,
 *   then to lastOffset, fdatasyncs, for k = 1, 2, ... until stopFile exists. Every instant of
 *   the device therefore has first == last or first == last + 1; a snapshot with last > first
 *   holds a state no disk ever held (torn). Prints {"iterations":k} at the end.
 *
 * fill <path> <totalBytes> <chunkBytes> <stopOnEnospc 0|1>
 *   Writes random chunks from offset 0 to totalBytes, fsyncing each; counts the chunks whose
 *   write or fsync failed, by errno. Prints {"written":bytes,"errors":{"EIO":n,...}}.
 */
import { closeSync, existsSync, fdatasyncSync, fsyncSync, openSync, writeSync, constants } from 'node:fs';
import { randomFillSync } from 'node:crypto';

const BLOCK = 4096;

function counter(path: string, lastOffset: number, stopFile: string): void {
  const fd = openSync(path, constants.O_RDWR);
  const buf = Buffer.alloc(BLOCK);
  let k = 0;
  while (!existsSync(stopFile)) {
    k++;
    buf.fill(0);
    buf.write(`${k}\n`);
    writeSync(fd, buf, 0, BLOCK, 0);
    fdatasyncSync(fd);
    writeSync(fd, buf, 0, BLOCK, lastOffset);
    fdatasyncSync(fd);
  }
  closeSync(fd);
  process.stdout.write(JSON.stringify({ iterations: k }));
}

function fill(path: string, total: number, chunk: number, stopOnEnospc: boolean): void {
  const fd = openSync(path, constants.O_RDWR | constants.O_CREAT, 0o600);
  const buf = Buffer.alloc(chunk);
  const errors: Record<string, number> = {};
  let written = 0;
  for (let off = 0; off < total; off += chunk) {
    const len = Math.min(chunk, total - off);
    randomFillSync(buf, 0, len);
    try {
      let done = 0;
      while (done < len) done += writeSync(fd, buf, done, len - done, off + done);
      fsyncSync(fd);
      written += len;
    } catch (err) {
      const code = (err as NodeJS.ErrnoException).code ?? 'unknown';
      errors[code] = (errors[code] ?? 0) + 1;
      if (code === 'ENOSPC' && stopOnEnospc) break;
    }
  }
  closeSync(fd);
  process.stdout.write(JSON.stringify({ written, errors }));
}

const [mode, ...args] = process.argv.slice(2);
if (mode === 'counter') counter(args[0]!, Number(args[1]), args[2]!);
else if (mode === 'fill') fill(args[0]!, Number(args[1]), Number(args[2]), args[3] === '1');
else {
  process.stderr.write(`unknown mode ${mode}\n`);
  process.exit(2);
}
