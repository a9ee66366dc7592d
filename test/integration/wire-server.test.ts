/**
 * The wire layer against a real grpc-js client over a real unix socket. The handlers are test
 * doubles of the service layer.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp, rm, stat, writeFile, lstat } from 'node:fs/promises';
import { spawn } from 'node:child_process';
import os from 'node:os';
import path from 'node:path';
import * as grpc from '@grpc/grpc-js';
import { pino } from 'pino';
import { notFound } from '../../src/domain/errors.js';
import { installSignalHandlers, parseUnixEndpoint, startCsiServer, type CsiServer } from '../../src/wire/server.js';
import type { ControllerHandlers, IdentityHandlers } from '../../src/wire/types.js';
import { call, csiClients, type CsiClients } from '../helpers/grpc-client.js';

const SECRET = 'hunter2-SECRET';

function capturingLogger() {
  const lines: string[] = [];
  const logger = pino({ level: 'debug' }, { write: (chunk: string) => void lines.push(chunk) });
  const records = () =>
    lines
      .flatMap((l) => l.split('\n'))
      .filter(Boolean)
      .map((l) => JSON.parse(l) as Record<string, any>);
  return { logger, lines, records };
}

const identity: IdentityHandlers = {
  GetPluginInfo: async () => ({ name: 'quarry.test', vendor_version: '0.0.0' }),
  Probe: async () => ({ ready: { value: true } }),
};

let dir: string;
before(async () => {
  dir = await mkdtemp(path.join(os.tmpdir(), 'quarry-wire-'));
});
after(async () => {
  await rm(dir, { recursive: true, force: true });
});

describe('a running server', () => {
  const log = capturingLogger();
  let server: CsiServer;
  let clients: CsiClients;
  let sock: string;
  let seen: Record<string, any> | undefined;
  let slowStarted: () => void = () => {};

  const controller: ControllerHandlers = {
    CreateVolume: async (req) => {
      seen = req;
      // A careless handler that puts the request in its error: the wire must still not leak it.
      throw notFound(`no pool for ${req.name}; request was ${JSON.stringify(req)}`);
    },
    DeleteVolume: async () => {
      throw new Error('plain failure');
    },
    GetCapacity: async (_req, ctx) => {
      slowStarted();
      await new Promise((r) => setTimeout(r, 400));
      assert.equal(ctx.method, 'Controller.GetCapacity');
      return { available_capacity: 2 ** 40 + 1, maximum_volume_size: { value: 5 }, minimum_volume_size: null };
    },
    ControllerGetCapabilities: async () => ({
      capabilities: [{ rpc: { type: 'CREATE_DELETE_VOLUME' } }, { rpc: { type: 'LIST_VOLUMES' } }],
    }),
  };

  before(async () => {
    sock = path.join(dir, 'run', 'csi.sock');
    server = await startCsiServer({
      endpoint: `unix://${sock}`,
      logger: log.logger,
      services: { Identity: identity, Controller: controller },
    });
    clients = csiClients(`unix://${sock}`);
  });
  after(async () => {
    clients?.close();
    await server?.close(1000);
  });

  test('the socket is created with mode 0600 in a new directory', async () => {
    const st = await stat(sock);
    assert.ok(st.isSocket());
    assert.equal(st.mode & 0o777, 0o600);
  });

  test('Identity answers; enums are names, int64 are numbers', async () => {
    const info = await call(clients.identity, 'GetPluginInfo', {});
    assert.equal(info.name, 'quarry.test');
    const caps = await call(clients.controller, 'ControllerGetCapabilities', {});
    assert.deepEqual(
      caps.capabilities.map((c) => c.rpc?.type),
      ['CREATE_DELETE_VOLUME', 'LIST_VOLUMES'],
    );
  });

  test('secrets never reach the log or the error message; the log line has method, duration and code', async () => {
    await assert.rejects(
      call(clients.controller, 'CreateVolume', {
        name: 'pvc-123',
        secrets: { password: SECRET },
        capacity_range: { required_bytes: 1 << 20 },
        volume_capabilities: [{ mount: { fs_type: 'ext4' }, access_mode: { mode: 'SINGLE_NODE_WRITER' } }],
      }),
      (err: grpc.ServiceError) => {
        assert.equal(err.code, grpc.status.NOT_FOUND);
        assert.ok(err.details.startsWith('no pool for pvc-123'), err.details);
        assert.ok(!err.details.includes(SECRET), err.details);
        assert.ok(!err.message.includes(SECRET), err.message);
        return true;
      },
    );
    // What the handler received: snake_case, defaults, enums as names, int64 as numbers, oneof name.
    assert.equal(seen?.secrets.password, SECRET);
    assert.equal(seen?.capacity_range.required_bytes, 1 << 20);
    assert.equal(typeof seen?.capacity_range.limit_bytes, 'number');
    assert.equal(seen?.volume_capabilities[0].access_mode.mode, 'SINGLE_NODE_WRITER');
    assert.equal(seen?.volume_capabilities[0].access_type, 'mount');
    assert.deepEqual(seen?.parameters, {});

    const all = log.lines.join('');
    assert.ok(!all.includes(SECRET), 'the secret is in the log');
    const line = log.records().find((r) => r.msg === 'rpc' && r.method === 'CreateVolume');
    assert.ok(line, 'no rpc line for CreateVolume');
    assert.equal(line.service, 'Controller');
    assert.equal(line.code, 'NOT_FOUND');
    assert.equal(line.name, 'pvc-123');
    assert.equal(typeof line.duration_ms, 'number');
    assert.match(line.error, /^no pool for pvc-123/);
    assert.ok(!('secrets' in line) && !('request' in line));
  });

  test('an RPC that is not offered answers UNIMPLEMENTED, registered service or not', async () => {
    await assert.rejects(call(clients.controller, 'ControllerModifyVolume', { volume_id: 'v' }), { code: grpc.status.UNIMPLEMENTED });
    await assert.rejects(call(clients.identity, 'GetPluginCapabilities', {}), { code: grpc.status.UNIMPLEMENTED });
    await assert.rejects(call(clients.node, 'NodeGetInfo', {}), { code: grpc.status.UNIMPLEMENTED });
    await assert.rejects(call(clients.groupController, 'GroupControllerGetCapabilities', {}), { code: grpc.status.UNIMPLEMENTED });
    const line = log.records().find((r) => r.method === 'ControllerModifyVolume');
    assert.equal(line?.code, 'UNIMPLEMENTED');
  });

  test('a handler throwing a plain Error yields INTERNAL and the server keeps serving', async () => {
    await assert.rejects(call(clients.controller, 'DeleteVolume', { volume_id: 'vol-x' }), (err: grpc.ServiceError) => {
      assert.equal(err.code, grpc.status.INTERNAL);
      assert.match(err.details, /plain failure/);
      return true;
    });
    const line = log.records().find((r) => r.method === 'DeleteVolume');
    assert.equal(line?.code, 'INTERNAL');
    assert.equal(line?.volume_id, 'vol-x');
    assert.equal((await call(clients.identity, 'Probe', {})).ready?.value, true);
  });

  test('a second server on the live socket refuses to start', async () => {
    await assert.rejects(
      startCsiServer({ endpoint: `unix://${sock}`, logger: pino({ level: 'silent' }), services: { Identity: identity } }),
      /already serving/,
    );
    // and the first one is untouched
    assert.equal((await call(clients.identity, 'GetPluginInfo', {})).name, 'quarry.test');
  });

  test('graceful close lets an in-flight slow RPC finish', async () => {
    const started = new Promise<void>((r) => (slowStarted = r));
    const slow = call(clients.controller, 'GetCapacity', {});
    await started;
    const closed = server.close(5000);
    const res = await slow;
    assert.equal(res.available_capacity, 2 ** 40 + 1);
    await closed;
    await assert.rejects(lstat(sock), { code: 'ENOENT' });
  });
});

describe('socket handling', () => {
  const quiet = () => pino({ level: 'silent' });

  test('a stale socket file is replaced', async (t) => {
    const sock = path.join(dir, 'stale.sock');
    // Leave a socket file behind with nobody listening: a process that listened, then was killed.
    const child = spawn(
      process.execPath,
      ['-e', `require('net').createServer().listen(${JSON.stringify(sock)}, () => console.log('up'))`],
      {
        stdio: ['ignore', 'pipe', 'inherit'],
      },
    );
    t.after(() => child.kill('SIGKILL'));
    await new Promise<void>((resolve, reject) => {
      child.stdout!.once('data', () => resolve());
      child.once('exit', () => reject(new Error('helper exited early')));
    });
    const exited = new Promise((r) => child.once('exit', r));
    child.kill('SIGKILL');
    await exited;
    assert.ok((await lstat(sock)).isSocket(), 'test setup: the stale socket should exist');
    const server = await startCsiServer({ endpoint: `unix:${sock}`, logger: quiet(), services: { Identity: identity } });
    t.after(() => server.close(500));
    const c = csiClients(`unix:${sock}`);
    t.after(() => c.close());
    assert.equal((await call(c.identity, 'GetPluginInfo', {})).name, 'quarry.test');
  });

  test('a regular file at the socket path is never removed', async () => {
    const p = path.join(dir, 'not-a-socket');
    await writeFile(p, 'keep me');
    await assert.rejects(
      startCsiServer({ endpoint: `unix://${p}`, logger: quiet(), services: { Identity: identity } }),
      /not a unix socket/,
    );
    assert.ok((await lstat(p)).isFile());
  });

  test('a directory at the socket path is never removed', async () => {
    await assert.rejects(
      startCsiServer({ endpoint: `unix://${dir}`, logger: quiet(), services: { Identity: identity } }),
      /not a unix socket/,
    );
    assert.ok((await lstat(dir)).isDirectory());
  });

  test('socketMode is honoured', async (t) => {
    const sock = path.join(dir, 'mode.sock');
    const server = await startCsiServer({
      endpoint: `unix://${sock}`,
      socketMode: 0o660,
      logger: quiet(),
      services: { Identity: identity },
    });
    t.after(() => server.close(500));
    assert.equal((await stat(sock)).mode & 0o777, 0o660);
  });

  test('only unix endpoints are accepted', async () => {
    assert.equal(parseUnixEndpoint('unix:///a/b.sock'), '/a/b.sock');
    assert.equal(parseUnixEndpoint('unix:/a/b.sock'), '/a/b.sock');
    for (const bad of ['tcp://127.0.0.1:10000', '127.0.0.1:10000', 'unix:relative.sock', 'unix://host/a.sock', 'unix:///', '/a/b.sock']) {
      assert.throws(() => parseUnixEndpoint(bad), /unix|socket/, bad);
    }
    await assert.rejects(
      startCsiServer({ endpoint: 'tcp://0.0.0.0:1', logger: quiet(), services: { Identity: identity } }),
      /only unix sockets/,
    );
  });

  test('a handler for a method the service does not have is refused at start', async () => {
    await assert.rejects(
      startCsiServer({
        endpoint: `unix://${path.join(dir, 'typo.sock')}`,
        logger: quiet(),
        services: { Identity: identity, Controller: { CreateVolumes: async () => ({}) } as unknown as ControllerHandlers },
      }),
      /CreateVolumes/,
    );
  });

  test('close(graceMs) cancels an RPC that outlives the grace period, within the bound', async (t) => {
    const sock = path.join(dir, 'hang.sock');
    let entered: () => void = () => {};
    const inside = new Promise<void>((r) => (entered = r));
    let aborted = false;
    const server = await startCsiServer({
      endpoint: `unix://${sock}`,
      logger: quiet(),
      services: {
        Identity: {
          Probe: (_req, ctx) => {
            entered();
            ctx.signal.addEventListener('abort', () => (aborted = true));
            return new Promise(() => {}); // never answers
          },
        },
      },
    });
    const c = csiClients(`unix://${sock}`);
    t.after(() => c.close());
    const hung = call(c.identity, 'Probe', {}).then(
      () => 'answered',
      (e: grpc.ServiceError) => e.code,
    );
    await inside;
    const t0 = Date.now();
    await server.close(200);
    assert.ok(Date.now() - t0 < 2000, `close took ${Date.now() - t0} ms`);
    const outcome = await hung;
    assert.notEqual(outcome, 'answered');
    assert.ok(aborted, 'the handler was told through ctx.signal');
  });

  test('installSignalHandlers closes the server on SIGTERM and exits 0', async () => {
    const sock = path.join(dir, 'signal.sock');
    const server = await startCsiServer({ endpoint: `unix://${sock}`, logger: quiet(), services: { Identity: identity } });
    let exitCode: number | undefined;
    const exited = new Promise<void>((resolve) => {
      const uninstall = installSignalHandlers(server, quiet(), 500, (code) => {
        exitCode = code;
        uninstall();
        resolve();
      });
    });
    process.emit('SIGTERM', 'SIGTERM');
    await exited;
    assert.equal(exitCode, 0);
    await assert.rejects(lstat(sock), { code: 'ENOENT' });
  });
});
