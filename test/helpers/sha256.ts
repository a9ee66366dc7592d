// Test helper: content digests, to prove bytes survived (or were left alone by) an operation.
import { createHash, randomBytes } from 'node:crypto';
import { createReadStream } from 'node:fs';
import { open } from 'node:fs/promises';

/** The sha256 of a file or block device, streamed (images are too large to read whole). */
export async function sha256File(path: string): Promise<string> {
  const h = createHash('sha256');
  for await (const chunk of createReadStream(path)) h.update(chunk as Buffer);
  return h.digest('hex');
}

/** Writes `bytes` random bytes at the start of a file or block device, synced; returns their sha256. */
export async function writeRandomHead(path: string, bytes: number): Promise<string> {
  const data = randomBytes(bytes);
  const fd = await open(path, 'r+');
  try {
    await fd.write(data, 0, data.length, 0);
    await fd.sync();
  } finally {
    await fd.close();
  }
  return createHash('sha256').update(data).digest('hex');
}

/** The sha256 of the first `bytes` bytes of a file or block device (of fewer, where it is shorter). */
export async function sha256Head(path: string, bytes: number): Promise<string> {
  const buf = Buffer.alloc(bytes);
  const fd = await open(path, 'r');
  try {
    const { bytesRead } = await fd.read(buf, 0, buf.length, 0);
    return createHash('sha256').update(buf.subarray(0, bytesRead)).digest('hex');
  } finally {
    await fd.close();
  }
}
