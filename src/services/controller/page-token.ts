import { aborted } from '../../domain/errors.js';

/**
 * Opaque keyset tokens: the last ID returned. Entries are listed in ID order,
 * so objects added or deleted between pages never shift the next page.
 */
export function encodePageToken(lastId: string): string {
  return Buffer.from(JSON.stringify({ v: 1, after: lastId })).toString('base64url');
}

export function decodePageToken(token: string | undefined): string | undefined {
  if (!token) return undefined;
  try {
    const t = JSON.parse(Buffer.from(token, 'base64url').toString('utf8')) as { v?: number; after?: unknown };
    if (t.v === 1 && typeof t.after === 'string' && t.after.length > 0) return t.after;
  } catch {
    // fall through: not one of ours
  }
  throw aborted(`starting_token "${token}" is not valid; list again from the beginning`);
}

/** One page of `items` (sorted by key) after the token's position. */
export function paginate<T>(items: T[], key: (t: T) => string, startingToken: string | undefined, maxEntries: number) {
  const after = decodePageToken(startingToken);
  const rest = after === undefined ? items : items.filter((i) => key(i) > after);
  const page = maxEntries > 0 ? rest.slice(0, maxEntries) : rest;
  const next_token = page.length < rest.length ? encodePageToken(key(page[page.length - 1]!)) : '';
  return { page, next_token };
}
