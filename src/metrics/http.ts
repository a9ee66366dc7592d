/** A tiny HTTP server for Prometheus: GET /metrics, 404 for anything else. */
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { Logger } from 'pino';
import type { Registry } from 'prom-client';

/** No host: every interface. Port 0: any free port (see `address`). */
export interface ListenAddress {
  host?: string;
  port: number;
}

export interface MetricsServer {
  /** The bound address as host:port (the real port when 0 was asked for). */
  readonly address: string;
  /** Stops listening and drops open connections. Safe to call more than once. */
  close(): Promise<void>;
}

export async function startMetricsServer(listen: ListenAddress, registry: Registry, logger: Logger): Promise<MetricsServer> {
  const server = createServer((req, res) => {
    const path = (req.url ?? '').split('?')[0];
    if (path !== '/metrics' || (req.method !== 'GET' && req.method !== 'HEAD')) {
      res.writeHead(404, { 'Content-Type': 'text/plain; charset=utf-8' }).end('not found; metrics are at /metrics\n');
      return;
    }
    registry.metrics().then(
      (body) => res.writeHead(200, { 'Content-Type': registry.contentType }).end(req.method === 'HEAD' ? undefined : body),
      (err: unknown) => {
        logger.error({ err: String((err as Error)?.message ?? err) }, 'metrics: scrape failed');
        res.writeHead(500, { 'Content-Type': 'text/plain; charset=utf-8' }).end('scrape failed\n');
      },
    );
  });
  await listenOn(server, listen);
  const address = formatAddress(server.address() as AddressInfo);
  logger.info({ address }, 'metrics listening');
  let closing: Promise<void> | undefined;
  return {
    address,
    close: () =>
      (closing ??= new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
      })),
  };
}

function listenOn(server: Server, listen: ListenAddress): Promise<void> {
  return new Promise((resolve, reject) => {
    const fail = (err: Error) => {
      const where = `${listen.host ?? ''}:${listen.port}`;
      reject(new Error(`cannot serve metrics on ${where}: ${err.message}`));
    };
    server.once('error', fail);
    server.listen(listen.port, listen.host, () => {
      server.off('error', fail);
      resolve();
    });
  });
}

function formatAddress(a: AddressInfo): string {
  return a.family === 'IPv6' ? `[${a.address}]:${a.port}` : `${a.address}:${a.port}`;
}
