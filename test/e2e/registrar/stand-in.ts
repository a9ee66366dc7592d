// What the two sidecar stand-ins share: a log line format, a retry until the driver answers,
// and a /healthz endpoint.
import http from 'node:http';
import { setTimeout as sleep } from 'node:timers/promises';

/** One line on stderr, named by stand-in, so the container's log says which one wrote it. */
export function log(who: string, message: string): void {
  process.stderr.write(`${new Date().toISOString()} ${who} stand-in: ${message}\n`);
}

/** Runs `attempt` until it resolves (the driver starts after its sidecars, or restarts). */
export async function untilAnswered<T>(who: string, what: string, attempt: () => Promise<T>): Promise<T> {
  for (let n = 1; ; n++) {
    try {
      return await attempt();
    } catch (err) {
      if (n === 1 || n % 30 === 0) log(who, `${what} failed (${(err as Error).message}); retrying`);
      await sleep(1_000);
    }
  }
}

/** Serves GET /healthz on `endpoint` (":port" or "host:port"): 200 while `healthy` says so, else 500. */
export async function serveHealth(who: string, endpoint: string, healthy: () => Promise<boolean>): Promise<http.Server> {
  const m = /^(.*):(\d+)$/.exec(endpoint);
  if (!m) throw new Error(`invalid --http-endpoint ${endpoint}: pass :port or host:port`);
  const server = http.createServer((req, res) => {
    if (req.method !== 'GET' || req.url !== '/healthz') {
      res.writeHead(404).end();
      return;
    }
    healthy().then(
      (ok) => res.writeHead(ok ? 200 : 500).end(ok ? 'ok\n' : 'not healthy\n'),
      (err: Error) => res.writeHead(500).end(`${err.message}\n`),
    );
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(Number(m[2]), m[1] || undefined, () => resolve());
  });
  log(who, `serving /healthz on ${endpoint}`);
  return server;
}
