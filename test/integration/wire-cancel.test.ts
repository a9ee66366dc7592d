/**
 * A client that cancels its call aborts the handler's signal, whether the handler asked for the
 * signal before the cancel or only after it (the wire makes the signal on first use).
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import * as grpc from '@grpc/grpc-js';
import { pino } from 'pino';
import { requestFingerprint } from '../../src/wire/fingerprint.js';
import { startCsiServer } from '../../src/wire/server.js';
import type { CallContext, ControllerHandlers, IdentityHandlers } from '../../src/wire/types.js';
import { csiClients } from '../helpers/grpc-client.js';

let dir: string;
before(async () => {
  dir = await mkdtemp(path.join(os.tmpdir(), 'quarry-cancel-'));
});
after(async () => {
  await rm(dir, { recursive: true, force: true });
});

const identity: IdentityHandlers = { Probe: async () => ({ ready: { value: true } }) };

/** Starts a server whose ListVolumes runs `handler`, calls it, cancels the call once the handler runs, and returns what the handler saw. */
async function cancelDuring(name: string, handler: (ctx: CallContext, started: () => void) => Promise<string>): Promise<string> {
  let started!: () => void;
  const running = new Promise<void>((r) => (started = r));
  let outcome!: Promise<string>;
  const controller: ControllerHandlers = {
    ListVolumes: (_req, ctx) => {
      outcome = handler(ctx, started);
      return outcome.then(() => ({ entries: [] }));
    },
  };
  const server = await startCsiServer({
    endpoint: `unix://${path.join(dir, `${name}.sock`)}`,
    logger: pino({ level: 'silent' }),
    services: { Identity: identity, Controller: controller },
  });
  const clients = csiClients(`unix://${path.join(dir, `${name}.sock`)}`);
  try {
    const answered = new Promise<grpc.ServiceError | null>((resolve) => {
      const c = clients.controller.ListVolumes({}, (err: grpc.ServiceError | null) => resolve(err));
      void running.then(() => c.cancel());
    });
    assert.equal((await answered)?.code, grpc.status.CANCELLED);
    return await outcome;
  } finally {
    clients.close();
    await server.close(1_000);
  }
}

test('a handler holding the signal when the client cancels sees it aborted', async () => {
  const seen = await cancelDuring('early', async (ctx, started) => {
    const signal = ctx.signal;
    started();
    await new Promise((r) => signal.addEventListener('abort', r, { once: true }));
    return `aborted: ${String((signal.reason as Error)?.message)}`;
  });
  assert.equal(seen, 'aborted: Controller.ListVolumes cancelled by the client');
});

test('a handler asking for the signal only after the cancel still sees it aborted', async () => {
  const seen = await cancelDuring('late', async (ctx, started) => {
    started();
    // Ask well after the client cancelled: the signal is made now, and must be (or become) aborted.
    await new Promise((r) => setTimeout(r, 300));
    const signal = ctx.signal;
    if (!signal.aborted) {
      await new Promise((resolve, reject) => {
        const timer = setTimeout(() => reject(new Error('the signal made after the cancel never aborted')), 10_000);
        signal.addEventListener('abort', () => resolve(clearTimeout(timer)), { once: true });
      });
    }
    return `aborted: ${signal.aborted}`;
  });
  assert.equal(seen, 'aborted: true');
});

test("the call's request scope names the RPC, fingerprints the request, and its signal follows the cancel", async () => {
  const seen = await cancelDuring('scope', async (ctx, started) => {
    const { method, fingerprint, signal } = ctx.scope;
    started();
    await new Promise((r) => signal.addEventListener('abort', r, { once: true }));
    return `${method} ${fingerprint === requestFingerprint('Controller.ListVolumes', { max_entries: 0, starting_token: '' })} ${signal.aborted}`;
  });
  assert.equal(seen, 'ListVolumes true true');
});
