// The layers point one way (design: Layers): wire → services → storage → host → domain. Every
// import under src/ is read from the source and checked, so a wrong-way import fails here at once.
import { test } from 'node:test';
import * as assert from 'node:assert/strict';
import { readdir, readFile } from 'node:fs/promises';
import { dirname, join, relative, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

const SRC = fileURLToPath(new URL('../../../src/', import.meta.url));

type Layer = 'domain' | 'host' | 'storage' | 'services' | 'wire' | 'kube';

/** What each layer may import besides itself. Folders not listed (cli, metrics, demo, doctor) wire layers together and are not checked. */
const ALLOWED: Record<Layer, Layer[]> = {
  domain: [],
  host: ['domain'],
  storage: ['domain', 'host'],
  services: ['domain', 'storage'],
  wire: ['domain'],
  // The Kubernetes API client and the imported-snapshot labeler: told what the pools hold, never reading them.
  kube: ['domain'],
};

/**
 * The only imports across the rules above, each with its reason. A path is relative to src/;
 * `typeOnly` means the import must be `import type` (it brings in no code).
 */
const EXCEPTIONS: { from: Layer; to: string; typeOnly: boolean; why: string }[] = [
  {
    from: 'services',
    to: 'wire/types.ts',
    typeOnly: true,
    why: "the CSI messages are the services' request and response vocabulary; types only, no wire code",
  },
  {
    from: 'wire',
    to: 'services/request-scope.ts',
    typeOnly: true,
    why: 'the wire makes the per-request scope (method, fingerprint, cancellation) that the request locks read; the type is theirs',
  },
];

interface Edge {
  file: string;
  target: string;
  typeOnly: boolean;
}

const IMPORT_RE = /(?:^|\n)\s*(import|export)\s+(type\s+)?(?:[^'";]*?\s+from\s+)?'([^']+)'/g;
const DYNAMIC_RE = /import\(\s*'([^']+)'\s*\)/g;

function importsOf(file: string, text: string): Edge[] {
  const out: Edge[] = [];
  const add = (spec: string, typeOnly: boolean) => {
    if (!spec.startsWith('.')) return; // packages and node: builtins
    const target = relative(SRC, resolve(dirname(file), spec)).replace(/\.js$/, '.ts');
    out.push({ file: relative(SRC, file), target, typeOnly });
  };
  for (const m of text.matchAll(IMPORT_RE)) add(m[3]!, Boolean(m[2]));
  for (const m of text.matchAll(DYNAMIC_RE)) add(m[1]!, false);
  return out;
}

const layerOf = (path: string): Layer | undefined => {
  const top = path.split('/')[0] as Layer;
  return top in ALLOWED ? top : undefined;
};

function violations(edges: Edge[]): string[] {
  const bad: string[] = [];
  for (const e of edges) {
    const from = layerOf(e.file);
    const to = layerOf(e.target);
    if (!from || !to || from === to || ALLOWED[from].includes(to)) continue;
    const ok = EXCEPTIONS.some(
      (x) => x.from === from && (e.target === x.to || e.target.startsWith(x.to.replace(/\.ts$/, '/'))) && (!x.typeOnly || e.typeOnly),
    );
    if (ok) continue;
    bad.push(`${e.file} imports ${e.target}${e.typeOnly ? ' (type only)' : ''}: ${from} may not import ${to}`);
  }
  return bad;
}

async function sourceFiles(dir: string): Promise<string[]> {
  const out: string[] = [];
  for (const d of await readdir(dir, { withFileTypes: true })) {
    const p = join(dir, d.name);
    if (d.isDirectory()) out.push(...(await sourceFiles(p)));
    else if (d.name.endsWith('.ts') && !d.name.endsWith('.d.ts')) out.push(p);
  }
  return out;
}

test('every import under src/ follows the layer directions', async () => {
  const files = await sourceFiles(SRC);
  assert.ok(files.length > 50, `read ${files.length} source files from ${SRC}`);
  const edges = (await Promise.all(files.map(async (f) => importsOf(f, await readFile(f, 'utf8'))))).flat();
  assert.ok(
    edges.some((e) => e.file.startsWith('services/') && e.target.startsWith('storage/')),
    'the parser sees imports',
  );
  assert.deepEqual(violations(edges), []);
});

test('no service imports a host module, not even its types (design: Host port)', async () => {
  const files = await sourceFiles(join(SRC, 'services'));
  const edges = (await Promise.all(files.map(async (f) => importsOf(f, await readFile(f, 'utf8'))))).flat();
  assert.deepEqual(
    edges.filter((e) => e.target.startsWith('host/')).map((e) => `${e.file} → ${e.target}`),
    [],
  );
});

test('the checker catches wrong-way imports of every kind', () => {
  const at = (p: string) => join(SRC, p);
  const cases: [string, string][] = [
    ['services/node/stage.ts', "import { mount } from '../../host/mount.js';"],
    ['services/node/stage.ts', "import type { MountInfoEntry } from '../../host/mountinfo.js';"],
    ['services/node/stage.ts', "import { startCsiServer } from '../../wire/server.js';"],
    ['services/node/stage.ts', "import { x } from '../../wire/types.js';"],
    ['storage/image-pool.ts', "import type { ServiceContext } from '../services/context.js';"],
    ['storage/image-pool.ts', "export { redact } from '../wire/redact.js';"],
    ['host/mount.ts', "import {\n  ImagePool,\n} from '../storage/image-pool.js';"],
    ['host/mount.ts', "const m = await import('../services/lookup.js');"],
    ['wire/server.ts', "import { ImagePool } from '../storage/image-pool.js';"],
    ['wire/server.ts', "import { mount } from '../host/mount.js';"],
    ['wire/server.ts', "import { requireVolume } from '../services/lookup.js';"],
    ['domain/ids.ts', "import { bytes } from '../host/exec.js';"],
  ];
  for (const [file, line] of cases) {
    assert.equal(violations(importsOf(at(file), line)).length, 1, `${file}: ${line}`);
  }
  assert.deepEqual(violations(importsOf(at('services/node/index.ts'), "import type { NodeHandlers } from '../../wire/types.js';")), []);
  assert.deepEqual(violations(importsOf(at('services/node/stage.ts'), "import { x } from '../../storage/records.js';")), []);
});

/**
 * Services ask the pool for whole operations (attach, detach, register a node); they never hold
 * the pool lock or read and write records themselves (design: Shared mode).
 */
const SERVICE_FORBIDDEN_IMPORTS = ['storage/record-store.ts', 'storage/node-registry.ts'];
const WITH_LOCK_RE = /\.withLock\(/;

function poolApiViolations(file: string, text: string): string[] {
  const bad = importsOf(file, text)
    .filter((e) => e.file.startsWith('services/') && SERVICE_FORBIDDEN_IMPORTS.includes(e.target))
    .map((e) => `${e.file} imports ${e.target}`);
  if (relative(SRC, file).startsWith('services/') && WITH_LOCK_RE.test(text)) bad.push(`${relative(SRC, file)} calls .withLock(`);
  return bad;
}

test('no service holds the pool lock or touches a RecordStore or the node registry', async () => {
  const files = await sourceFiles(join(SRC, 'services'));
  assert.ok(files.length > 30, `read ${files.length} service files`);
  const bad = (await Promise.all(files.map(async (f) => poolApiViolations(f, await readFile(f, 'utf8'))))).flat();
  assert.deepEqual(bad, []);
});

test('the pool-API check catches a planted violation of each kind', () => {
  const at = (p: string) => join(SRC, p);
  const cases: [string, string][] = [
    ['services/controller/publish-volume.ts', "import { RecordStore } from '../../storage/record-store.js';"],
    ['services/controller/publish-volume.ts', "import type { RecordStore } from '../../storage/record-store.js';"],
    ['services/node/register.ts', "import { NodeRegistry } from '../../storage/node-registry.js';"],
    ['services/controller/unpublish-volume.ts', 'await found.pool.withLock(async () => undefined);'],
    ['services/lookup.ts', 'return vol.pool\n  .withLock(() => x);'],
  ];
  for (const [file, line] of cases) {
    assert.equal(poolApiViolations(at(file), line).length, 1, `${file}: ${line}`);
  }
  assert.deepEqual(
    poolApiViolations(at('services/controller/publish-volume.ts'), "import type { X } from '../../storage/records.js';"),
    [],
  );
  assert.deepEqual(poolApiViolations(at('storage/attachments.ts'), 'await pool.withLock(async () => undefined);'), []);
});
