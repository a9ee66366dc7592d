import { request as httpRequest, type IncomingMessage } from 'node:http';
import { request as httpsRequest } from 'node:https';
import { readFile } from 'node:fs/promises';

/**
 * A very small Kubernetes API client: GET, LIST, WATCH and merge-PATCH of JSON objects, and
 * nothing else. Quarry needs a handful of calls (design: Imported snapshots in local mode), and a
 * full client library would cost more memory than the node plugin itself.
 */

const SA_DIR = '/var/run/secrets/kubernetes.io/serviceaccount';
const REQUEST_TIMEOUT_MS = 30_000;

export interface KubeClientOptions {
  /** e.g. https://10.96.0.1:443; tests use http://127.0.0.1:port. */
  baseUrl: string;
  /** Read before every request: the kubelet rotates a projected token. */
  tokenFile?: string;
  /** PEM of the API server's CA; undefined: the system's roots. */
  ca?: string;
}

/** A non-2xx answer of the API server; `status` is the HTTP status (409 conflict, 410 gone, ...). */
export class KubeApiError extends Error {
  constructor(
    readonly status: number,
    message: string,
  ) {
    super(message);
  }
}

export interface WatchEvent<T> {
  type: 'ADDED' | 'MODIFIED' | 'DELETED' | 'BOOKMARK' | 'ERROR';
  object: T;
}

export interface KubeList<T> {
  metadata: { resourceVersion?: string };
  items: T[];
}

/** The client a pod uses: the service host and port from the environment, the mounted token and CA. */
export async function inClusterClient(env: NodeJS.ProcessEnv = process.env): Promise<KubeClient> {
  const host = env.KUBERNETES_SERVICE_HOST;
  const port = env.KUBERNETES_SERVICE_PORT ?? '443';
  if (!host) throw new Error('KUBERNETES_SERVICE_HOST is not set: not running in a pod, or the API server is not reachable');
  const ca = await readFile(`${SA_DIR}/ca.crt`, 'utf8');
  const hostPart = host.includes(':') ? `[${host}]` : host; // an IPv6 service address
  return new KubeClient({ baseUrl: `https://${hostPart}:${port}`, tokenFile: `${SA_DIR}/token`, ca });
}

export class KubeClient {
  constructor(private readonly opts: KubeClientOptions) {}

  async get<T>(path: string): Promise<T> {
    return JSON.parse(await this.text('GET', path)) as T;
  }

  async list<T>(path: string, query: Record<string, string> = {}): Promise<KubeList<T>> {
    return this.get<KubeList<T>>(withQuery(path, query));
  }

  /** RFC 7386 merge patch; with metadata.resourceVersion in the body the server refuses a stale write (409). */
  async mergePatch<T>(path: string, patch: unknown): Promise<T> {
    return JSON.parse(await this.text('PATCH', path, JSON.stringify(patch), 'application/merge-patch+json')) as T;
  }

  /**
   * Streams watch events until the server ends the watch (timeoutSeconds), the signal aborts, or
   * the connection fails (rejects). Events arrive as one JSON object per line.
   */
  async watch<T>(
    path: string,
    query: Record<string, string>,
    onEvent: (e: WatchEvent<T>) => Promise<void> | void,
    signal?: AbortSignal,
  ): Promise<void> {
    const res = await this.open('GET', withQuery(path, { ...query, watch: 'true' }), undefined, undefined, signal, 0);
    if (res.statusCode !== 200) throw await errorOf(res, 'GET', path);
    res.setEncoding('utf8');
    let buffered = '';
    let chain = Promise.resolve();
    let failed: unknown;
    await new Promise<void>((resolve, reject) => {
      const finish = () => chain.then(() => (failed === undefined ? resolve() : reject(failed)));
      res.on('data', (chunk: string) => {
        buffered += chunk;
        let nl = buffered.indexOf('\n');
        while (nl >= 0) {
          const line = buffered.slice(0, nl).trim();
          buffered = buffered.slice(nl + 1);
          // One event at a time, in order: the handler may patch and must not race itself.
          // A failing handler ends the watch; the caller lists again.
          if (line && failed === undefined) {
            chain = chain
              .then(() => onEvent(JSON.parse(line) as WatchEvent<T>))
              .catch((err: unknown) => {
                failed ??= err;
                res.destroy();
              });
          }
          nl = buffered.indexOf('\n');
        }
      });
      res.on('end', finish);
      res.on('close', finish);
      res.on('error', (err) => {
        failed ??= err;
        void finish();
      });
    }).catch((err: unknown) => {
      if (signal?.aborted) return;
      throw err;
    });
  }

  private async text(method: string, path: string, body?: string, contentType?: string): Promise<string> {
    const res = await this.open(method, path, body, contentType, undefined, REQUEST_TIMEOUT_MS);
    const text = await readAll(res);
    if ((res.statusCode ?? 0) < 200 || (res.statusCode ?? 0) >= 300) throw apiError(res.statusCode ?? 0, method, path, text);
    return text;
  }

  private async open(
    method: string,
    path: string,
    body: string | undefined,
    contentType: string | undefined,
    signal: AbortSignal | undefined,
    timeoutMs: number,
  ): Promise<IncomingMessage> {
    const url = new URL(path, this.opts.baseUrl);
    const token = this.opts.tokenFile ? (await readFile(this.opts.tokenFile, 'utf8')).trim() : undefined;
    const headers: Record<string, string> = { accept: 'application/json' };
    if (token) headers.authorization = `Bearer ${token}`;
    if (body !== undefined) {
      headers['content-type'] = contentType ?? 'application/json';
      headers['content-length'] = String(Buffer.byteLength(body));
    }
    const send = url.protocol === 'https:' ? httpsRequest : httpRequest;
    return new Promise<IncomingMessage>((resolve, reject) => {
      const req = send(url, { method, headers, ...(this.opts.ca ? { ca: this.opts.ca } : {}), ...(signal ? { signal } : {}) }, resolve);
      if (timeoutMs > 0) req.setTimeout(timeoutMs, () => req.destroy(new Error(`${method} ${path}: no answer in ${timeoutMs} ms`)));
      req.on('error', reject);
      req.end(body);
    });
  }
}

function withQuery(path: string, query: Record<string, string>): string {
  const q = new URLSearchParams(query).toString();
  return q ? `${path}?${q}` : path;
}

function readAll(res: IncomingMessage): Promise<string> {
  return new Promise((resolve, reject) => {
    let text = '';
    res.setEncoding('utf8');
    res.on('data', (c: string) => {
      text += c;
    });
    res.on('end', () => resolve(text));
    res.on('error', reject);
  });
}

async function errorOf(res: IncomingMessage, method: string, path: string): Promise<KubeApiError> {
  return apiError(res.statusCode ?? 0, method, path, await readAll(res).catch(() => ''));
}

/** The API server's Status message when there is one: it says what was refused and why. */
function apiError(status: number, method: string, path: string, text: string): KubeApiError {
  let message = text.slice(0, 300);
  try {
    const s = JSON.parse(text) as { message?: string };
    if (s.message) message = s.message;
  } catch {
    // not JSON: keep the raw text
  }
  return new KubeApiError(status, `${method} ${path}: HTTP ${status}: ${message}`);
}
