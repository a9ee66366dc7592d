// The imported-snapshot labeler against a fake API server (node:http) that keeps
// VolumeSnapshotContents in memory and serves list, get, watch and merge-patch as the real one
// does for these calls (label selector `!key`, resourceVersion conflicts, one JSON event per line).
import assert from 'node:assert/strict';
import { after, before, beforeEach, describe, test } from 'node:test';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { KubeClient } from '../../src/kube/client.js';
import {
  GROUP_SNAPSHOT_CONTENTS,
  MANAGED_BY_LABEL,
  reconcileContent,
  reconcileRound,
  startContentLabeler,
  type LabelerOptions,
  type SnapshotContent,
} from '../../src/kube/content-labeler.js';

const PATH = '/apis/snapshot.storage.k8s.io/v1/volumesnapshotcontents';
const GROUP_PATH = '/apis/groupsnapshot.storage.k8s.io/v1/volumegroupsnapshotcontents';
const TOKEN = 'test-token-123';
const HELD = new Set(['snap-aaaaaaaaaaaaaaaaaaaa', 'snap-cccccccccccccccccccc', 'vol-aaaaaaaaaaaaaaaaaaaa', 'vol-cccccccccccccccccccc']);

class FakeApi {
  /** VolumeSnapshotContents; group contents live in `groups`. */
  contents = new Map<string, SnapshotContent>();
  groups = new Map<string, SnapshotContent>();
  rv = 1;
  patches: { name: string; contentType: string; auth: string; body: any }[] = [];
  /** Fails the next N list calls with HTTP 500. */
  failLists = 0;
  /** Before the next patch of this name, someone else changes the object (a 409 follows). */
  raceLabelOn?: { name: string; value: string };
  watchers = new Set<ServerResponse>();
  server: Server = createServer((req, res) => this.handle(req, res));

  put(c: SnapshotContent, notify = false, group = false): void {
    c.metadata.resourceVersion = String(++this.rv);
    (group ? this.groups : this.contents).set(c.metadata.name, c);
    if (notify) for (const w of this.watchers) if ((w as any).group === group) w.write(`${JSON.stringify({ type: 'ADDED', object: c })}\n`);
  }

  private handle(req: IncomingMessage, res: ServerResponse) {
    const url = new URL(req.url!, 'http://x');
    if (req.headers.authorization !== `Bearer ${TOKEN}`) return this.send(res, 401, { message: 'no token' });
    const group = url.pathname.startsWith(GROUP_PATH);
    if (!group && !url.pathname.startsWith(PATH)) return this.send(res, 404, { message: 'unknown path' });
    const store = group ? this.groups : this.contents;
    const name = decodeURIComponent(url.pathname.slice((group ? GROUP_PATH : PATH).length + 1));
    if (req.method === 'GET' && !name && url.searchParams.get('watch') === 'true') {
      res.writeHead(200, { 'content-type': 'application/json' });
      (res as any).group = group;
      this.watchers.add(res);
      res.on('close', () => this.watchers.delete(res));
      return;
    }
    if (req.method === 'GET' && !name) {
      if (this.failLists > 0) {
        this.failLists--;
        return this.send(res, 500, { message: 'etcd unavailable' });
      }
      const sel = url.searchParams.get('labelSelector') ?? '';
      const without = sel.startsWith('!') ? sel.slice(1) : undefined;
      const items = [...store.values()].filter((c) => !without || c.metadata.labels?.[without] === undefined);
      return this.send(res, 200, { metadata: { resourceVersion: String(this.rv) }, items });
    }
    const c = store.get(name);
    if (!c) return this.send(res, 404, { message: `${name} not found` });
    if (req.method === 'GET') return this.send(res, 200, c);
    if (req.method === 'PATCH') {
      let text = '';
      req.on('data', (d) => {
        text += d;
      });
      req.on('end', () => {
        const body = JSON.parse(text);
        this.patches.push({ name, contentType: String(req.headers['content-type']), auth: String(req.headers.authorization), body });
        if (this.raceLabelOn?.name === name) {
          c.metadata.labels = { ...c.metadata.labels, [MANAGED_BY_LABEL]: this.raceLabelOn.value };
          c.metadata.resourceVersion = String(++this.rv);
          this.raceLabelOn = undefined;
        }
        const want = body.metadata?.resourceVersion;
        if (want && want !== c.metadata.resourceVersion) return this.send(res, 409, { message: 'the object has been modified' });
        c.metadata.labels = { ...c.metadata.labels, ...body.metadata?.labels };
        c.metadata.resourceVersion = String(++this.rv);
        this.send(res, 200, c);
      });
      return;
    }
    this.send(res, 405, { message: 'method' });
  }

  private send(res: ServerResponse, status: number, body: unknown): void {
    res.writeHead(status, { 'content-type': 'application/json' });
    res.end(JSON.stringify(body));
  }

  endWatches(): void {
    for (const w of this.watchers) w.end();
  }
}

const content = (
  name: string,
  source: { snapshotHandle?: string; volumeHandle?: string },
  driver = 'quarry.csi.dev',
  labels?: Record<string, string>,
) => ({ metadata: { name, ...(labels ? { labels } : {}) }, spec: { driver, source } }) as SnapshotContent;

async function until(what: string, check: () => boolean): Promise<void> {
  for (let i = 0; i < 500; i++) {
    if (check()) return;
    await new Promise((r) => setTimeout(r, 10));
  }
  assert.fail(`never happened: ${what}`);
}

describe('imported-snapshot labeler', () => {
  let api: FakeApi;
  let dir: string;
  let opts: LabelerOptions;
  const logged: string[] = [];

  before(async () => {
    dir = await mkdtemp(join(tmpdir(), 'quarry-kube-'));
    await writeFile(join(dir, 'token'), `${TOKEN}\n`);
  });
  after(async () => {
    await rm(dir, { recursive: true, force: true });
  });
  beforeEach(async () => {
    api?.endWatches();
    api?.server.close();
    api = new FakeApi();
    await new Promise<void>((r) => api.server.listen(0, '127.0.0.1', r));
    const port = (api.server.address() as AddressInfo).port;
    logged.length = 0;
    opts = {
      client: new KubeClient({ baseUrl: `http://127.0.0.1:${port}`, tokenFile: join(dir, 'token') }),
      driverName: 'quarry.csi.dev',
      nodeId: 'node-a',
      holdsSnapshot: async (h) => HELD.has(h),
      holdsVolume: async (h) => HELD.has(h),
      log: { info: (_f, m) => logged.push(m), warn: (_f, m) => logged.push(`WARN ${m}`) },
    };
  });
  after(() => {
    api.endWatches();
    api.server.close();
  });

  test('labels only an unlabelled imported content of this driver whose snapshot this node holds', async () => {
    api.put(content('imported-here', { snapshotHandle: 'snap-aaaaaaaaaaaaaaaaaaaa' }));
    api.put(content('imported-elsewhere', { snapshotHandle: 'snap-bbbbbbbbbbbbbbbbbbbb' }));
    api.put(content('other-driver', { snapshotHandle: 'snap-aaaaaaaaaaaaaaaaaaaa' }, 'other.csi.dev'));
    // Group members: snapshot-controller names the volume and leaves them unlabelled.
    api.put(content('member-cutting', { volumeHandle: 'vol-aaaaaaaaaaaaaaaaaaaa' }));
    api.put({
      ...content('member-cut', { volumeHandle: 'vol-bbbbbbbbbbbbbbbbbbbb' }),
      status: { snapshotHandle: 'snap-cccccccccccccccccccc' },
    });
    api.put(content('member-elsewhere', { volumeHandle: 'vol-bbbbbbbbbbbbbbbbbbbb' }));
    api.put(content('no-source', {}));
    api.put(content('labelled-b', { snapshotHandle: 'snap-aaaaaaaaaaaaaaaaaaaa' }, 'quarry.csi.dev', { [MANAGED_BY_LABEL]: 'node-b' }));
    const outcomes: Record<string, string> = {};
    for (const c of api.contents.values()) outcomes[c.metadata.name] = await reconcileContent(opts, structuredClone(c));
    assert.deepEqual(outcomes, {
      'imported-here': 'labelled',
      'imported-elsewhere': 'not here',
      'other-driver': 'not ours',
      'member-cutting': 'labelled',
      'member-cut': 'labelled',
      'member-elsewhere': 'not here',
      'no-source': 'not ours',
      'labelled-b': 'already labelled',
    });
    assert.equal(api.contents.get('imported-here')!.metadata.labels?.[MANAGED_BY_LABEL], 'node-a');
    assert.equal(api.contents.get('imported-elsewhere')!.metadata.labels, undefined);
    assert.equal(api.contents.get('labelled-b')!.metadata.labels?.[MANAGED_BY_LABEL], 'node-b');
    assert.deepEqual(
      api.patches.map((p) => p.name),
      ['imported-here', 'member-cutting', 'member-cut'],
    );
    assert.equal(api.patches[0]!.contentType, 'application/merge-patch+json');
    assert.equal(api.patches[0]!.auth, `Bearer ${TOKEN}`);
    assert.ok(api.patches[0]!.body.metadata.resourceVersion, 'the patch is conditional on the version it read');
  });

  test('a group content is labelled only when this node holds every member it names', async () => {
    const group = (name: string, source: object) => ({ metadata: { name }, spec: { driver: 'quarry.csi.dev', source } }) as SnapshotContent;
    api.put(group('dynamic-here', { volumeHandles: ['vol-aaaaaaaaaaaaaaaaaaaa', 'vol-cccccccccccccccccccc'] }), false, true);
    api.put(group('dynamic-split', { volumeHandles: ['vol-aaaaaaaaaaaaaaaaaaaa', 'vol-bbbbbbbbbbbbbbbbbbbb'] }), false, true);
    api.put(
      group('imported-group', {
        groupSnapshotHandles: {
          volumeGroupSnapshotHandle: 'group-aaaaaaaaaaaaaaaaaaaa',
          volumeSnapshotHandles: ['snap-aaaaaaaaaaaaaaaaaaaa', 'snap-cccccccccccccccccccc'],
        },
      }),
      false,
      true,
    );
    api.put(group('empty', { volumeHandles: [] }), false, true);
    const outcomes: Record<string, string> = {};
    for (const c of api.groups.values())
      outcomes[c.metadata.name] = await reconcileContent(opts, structuredClone(c), GROUP_SNAPSHOT_CONTENTS);
    assert.deepEqual(outcomes, {
      'dynamic-here': 'labelled',
      'dynamic-split': 'not here',
      'imported-group': 'labelled',
      empty: 'not ours',
    });
    assert.equal(api.groups.get('dynamic-here')!.metadata.labels?.[MANAGED_BY_LABEL], 'node-a');
    assert.equal(api.groups.get('dynamic-split')!.metadata.labels, undefined);
    assert.deepEqual(
      api.patches.map((p) => p.name),
      ['dynamic-here', 'imported-group'],
    );
  });

  test('a content labelled by someone else between read and patch keeps their label', async () => {
    api.put(content('raced', { snapshotHandle: 'snap-aaaaaaaaaaaaaaaaaaaa' }));
    api.raceLabelOn = { name: 'raced', value: 'node-b' };
    assert.equal(await reconcileContent(opts, structuredClone(api.contents.get('raced')!)), 'already labelled');
    assert.equal(api.contents.get('raced')!.metadata.labels?.[MANAGED_BY_LABEL], 'node-b');
  });

  test('a round labels what it lists, then what the watch announces', async () => {
    api.put(content('listed', { snapshotHandle: 'snap-aaaaaaaaaaaaaaaaaaaa' }));
    const round = reconcileRound(opts);
    await until('a watcher', () => api.watchers.size === 1);
    assert.equal(api.contents.get('listed')!.metadata.labels?.[MANAGED_BY_LABEL], 'node-a');
    api.put(content('watched', { snapshotHandle: 'snap-aaaaaaaaaaaaaaaaaaaa' }), true);
    await until('watched content labelled', () => api.contents.get('watched')!.metadata.labels?.[MANAGED_BY_LABEL] === 'node-a');
    api.endWatches();
    await round;
  });

  test('the running labeler survives a failing API server and labels once it answers', async () => {
    api.failLists = 1;
    api.put(content('late', { snapshotHandle: 'snap-aaaaaaaaaaaaaaaaaaaa' }));
    api.put(
      { metadata: { name: 'late-group' }, spec: { driver: 'quarry.csi.dev', source: { volumeHandles: ['vol-aaaaaaaaaaaaaaaaaaaa'] } } },
      false,
      true,
    );
    const labeler = startContentLabeler(opts);
    try {
      await until('content labelled after the retry', () => api.contents.get('late')!.metadata.labels?.[MANAGED_BY_LABEL] === 'node-a');
      await until('group content labelled', () => api.groups.get('late-group')!.metadata.labels?.[MANAGED_BY_LABEL] === 'node-a');
      assert.ok(
        logged.some((m) => m.startsWith('WARN') && m.includes('failed')),
        `logged: ${logged.join(' | ')}`,
      );
    } finally {
      await labeler.stop();
    }
  });

  test('an API server that refuses the token is an error with its message, not a silent success', async () => {
    const bad = { ...opts, client: new KubeClient({ baseUrl: (opts.client as any).opts.baseUrl }) };
    await assert.rejects(reconcileRound(bad), /HTTP 401: no token/);
  });
});
