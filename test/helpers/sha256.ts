// Test helper: content digests, to prove bytes survived (or were left alone by) an operation.
import { createHash } from 'node:crypto';
import { createReadStream } from 'node:fs';

/** The sha256 of a file or block device, streamed (images are too large to read whole). */
export async function sha256File(path: string): Promise<string> {
  const h = createHash('sha256');
  for await (const chunk of createReadStream(path)) h.update(chunk as Buffer);
  return h.digest('hex');
}
