/**
 * Dependency rules that keep a Node.js runtime change cheap: no native addon tied to one Node ABI
 * (fs-ext broke Node 24; the pool lock's fs-native-extensions is N-API, prebuilt), and one protobufjs for both our reflection and @grpc/proto-loader, so
 * the descriptors both see come from the same code.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readdirSync, readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';

const ROOT = fileURLToPath(new URL('../../../', import.meta.url));
const lock = JSON.parse(readFileSync(`${ROOT}package-lock.json`, 'utf8')) as {
  packages: Record<string, { version?: string; hasInstallScript?: boolean; dev?: boolean }>;
};
const entries = Object.entries(lock.packages).filter(([path]) => path.startsWith('node_modules/'));
const nameOf = (path: string) => path.slice(path.lastIndexOf('node_modules/') + 'node_modules/'.length);

test('exactly one protobufjs is installed', () => {
  const versions = entries.filter(([p]) => nameOf(p) === 'protobufjs').map(([p, e]) => `${p}@${e.version}`);
  assert.equal(versions.length, 1, `protobufjs copies: ${versions.join(', ')}`);
});

test('no runtime dependency runs an install script (none compiles a native addon)', () => {
  const scripted = entries.filter(([, e]) => e.hasInstallScript && !e.dev).map(([p]) => nameOf(p));
  assert.deepEqual(scripted, []);
  assert.ok(!entries.some(([p]) => nameOf(p) === 'fs-ext'), 'fs-ext is gone');
});

test("the pool lock's addon ships prebuilt N-API binaries for the image's platforms", () => {
  for (const platform of ['linux-x64', 'linux-arm64']) {
    const dir = `${ROOT}node_modules/fs-native-extensions/prebuilds/${platform}`;
    assert.ok(
      readdirSync(dir).some((f) => f.endsWith('.node')),
      `${platform}: no prebuilt .node in ${dir}`,
    );
  }
});

test('CI tests the Node.js major the image ships, and `engines` admits it', () => {
  const image = /^ARG NODE_MAJOR=(\d+)$/m.exec(readFileSync(`${ROOT}Dockerfile`, 'utf8'))?.[1];
  const ci = /^NODE_SHIPPED_VERSION=(\d+)\.\d+\.\d+$/m.exec(readFileSync(`${ROOT}.ci/run`, 'utf8'))?.[1];
  assert.ok(image && ci, 'both versions are found');
  assert.equal(ci, image, '.ci/run NODE_SHIPPED_VERSION and the Dockerfile NODE_MAJOR agree');
  const pkg = JSON.parse(readFileSync(`${ROOT}package.json`, 'utf8')) as { engines: { node: string } };
  const floor = Number(/^>=(\d+)$/.exec(pkg.engines.node)?.[1]);
  assert.ok(Number(image) >= floor, `engines ${pkg.engines.node} admits ${image}`);
  assert.equal(Number(process.versions.node.split('.')[0]) >= floor, true, 'this runtime is one engines admits');
});
