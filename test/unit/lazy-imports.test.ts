// What a serving process loads before any request (design: Process footprint): the static import
// graph of `quarry controller|node|all`, read from the sources. Packages and folders that are
// only for some runs (metrics, doctor, demo, proto-loader, execa) must be behind a dynamic import.
import { test } from 'node:test';
import * as assert from 'node:assert/strict';
import { readFile } from 'node:fs/promises';
import { dirname, relative, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

const SRC = fileURLToPath(new URL('../../../src/', import.meta.url));

/** Static `import`/`export ... from` (not `import type`), and not `import('...')`. */
const STATIC_RE = /(?:^|\n)\s*(?:import|export)\s+(?!type\s)(?:[^'";]*?\s+from\s+)?'([^']+)'/g;

/** Every module and package a module loads statically, transitively: paths relative to src/, packages by name. */
async function staticClosure(entry: string): Promise<Set<string>> {
  const seen = new Set<string>();
  const queue = [entry];
  while (queue.length) {
    const file = queue.pop()!;
    if (seen.has(file)) continue;
    seen.add(file);
    const text = await readFile(resolve(SRC, file), 'utf8');
    for (const m of text.matchAll(STATIC_RE)) {
      const spec = m[1]!;
      if (spec.startsWith('node:')) continue;
      if (!spec.startsWith('.')) {
        seen.add(spec.startsWith('@') ? spec.split('/').slice(0, 2).join('/') : spec.split('/')[0]!);
        continue;
      }
      queue.push(relative(SRC, resolve(dirname(resolve(SRC, file)), spec)).replace(/\.js$/, '.ts'));
    }
  }
  return seen;
}

test('a serving process loads no metrics, doctor, demo, proto-loader or execa code before it needs it', async () => {
  const loaded = new Set([...(await staticClosure('cli/main.ts')), ...(await staticClosure('cli/serve.ts'))]);
  const banned = [...loaded].filter(
    (m) =>
      m.startsWith('metrics/') ||
      m.startsWith('doctor/') ||
      m.startsWith('demo/') ||
      m === 'cli/doctor.ts' ||
      m === 'cli/demo.ts' ||
      m === 'prom-client' ||
      m === '@grpc/proto-loader' ||
      m === 'execa',
  );
  assert.deepEqual(banned, [], `loaded at start by quarry controller|node|all: ${banned.join(', ')}`);
  // The graph was read: the server and grpc-js are in it.
  assert.ok(loaded.has('wire/server.ts') && loaded.has('@grpc/grpc-js'), [...loaded].join(', '));
});

test('a node process loads no controller handlers, and a controller no node handlers, before serving', async () => {
  const loaded = await staticClosure('cli/serve.ts');
  const handlers = [...loaded].filter((m) => /^services\/(controller|group-controller)\/|^services\/node\/index\.ts$/.test(m));
  assert.deepEqual(handlers, [], `role handlers loaded whatever the role: ${handlers.join(', ')}`);
});
