/**
 * The `quarry` command line as an admin meets it: pool directory rules at start (on loop-mounted
 * XFS and ext4), flag errors with exit code 2, --help and --version.
 */
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdir, readFile, readdir, writeFile } from 'node:fs/promises';
import { join, relative } from 'node:path';
import { makeScratchFs, makeTempDir } from '../helpers/scratch.js';
import { runQuarry, startQuarry } from '../helpers/quarry-process.js';

async function tree(root: string): Promise<string[]> {
  return (await readdir(root, { recursive: true })).map((e) => relative(root, join(root, e))).sort();
}

function assertOneLine(stderr: string, pattern: RegExp): void {
  const lines = stderr.trim().split('\n');
  assert.equal(lines.length, 1, `one line expected, got: ${stderr}`);
  assert.match(lines[0]!, pattern);
}

for (const fsType of ['xfs', 'ext4'] as const) {
  describe(`pool directory rules at start on ${fsType}`, () => {
    test('a path that does not exist is refused with one clear line and a non-zero exit', async (t) => {
      const fs = await makeScratchFs(t, { fsType });
      const sock = await makeTempDir(t, 'sock');
      const missing = join(fs.mountPath, 'no-such-pool');
      const r = await runQuarry(['controller', '--endpoint', `unix://${sock}/c.sock`, '--nodeid', 'n1', '--pool', missing]);
      assert.notEqual(r.code, 0);
      assertOneLine(r.stderr, /^quarry: pool path .*no-such-pool does not exist: create an empty directory/);
      await assert.rejects(readdir(missing));
    });

    test('a non-empty directory that Quarry did not create is refused and left untouched', async (t) => {
      const fs = await makeScratchFs(t, { fsType });
      const sock = await makeTempDir(t, 'sock');
      const data = join(fs.mountPath, 'someone-elses');
      await mkdir(join(data, 'sub'), { recursive: true });
      await writeFile(join(data, 'important.txt'), 'keep me');
      await writeFile(join(data, 'sub', 'volumes'), 'not ours');
      for (const dir of [data, fs.mountPath]) {
        const before = await tree(dir);
        const r = await runQuarry(['node', '--endpoint', `unix://${sock}/n.sock`, '--nodeid', 'n1', '--pool', dir]);
        assert.notEqual(r.code, 0);
        assertOneLine(r.stderr, /non-empty directory that Quarry did not create \(no quarry-pool\.json\); pass an empty directory/);
        assert.deepEqual(await tree(dir), before, `nothing was written into ${dir}`);
      }
      assert.equal(await readFile(join(data, 'important.txt'), 'utf8'), 'keep me');
    });

    test('an empty directory becomes a pool with a versioned marker, and opens again', async (t) => {
      const fs = await makeScratchFs(t, { fsType });
      const sock = await makeTempDir(t, 'sock');
      const pool = join(fs.mountPath, 'pool');
      await mkdir(pool);
      const q = await startQuarry(t, { role: 'controller', dir: sock, args: ['--nodeid', 'n1', '--pool', pool] });
      const marker = JSON.parse(await readFile(join(pool, 'quarry-pool.json'), 'utf8'));
      assert.equal(marker.format, 1);
      assert.equal(marker.createdBy, 'quarry');
      assert.ok(!Number.isNaN(Date.parse(marker.createdAt)));
      for (const d of ['volumes', 'snapshots', 'nodes']) await readdir(join(pool, d));
      await q.kill();
      // Reopening keeps the marker as it was.
      const again = await startQuarry(t, { role: 'node', dir: sock, args: ['--nodeid', 'n1', '--pool', pool] });
      assert.deepEqual(JSON.parse(await readFile(join(pool, 'quarry-pool.json'), 'utf8')), marker);
      await again.kill();
    });

    test('a marker from a newer Quarry is refused with what to do', async (t) => {
      const fs = await makeScratchFs(t, { fsType });
      const sock = await makeTempDir(t, 'sock');
      const pool = join(fs.mountPath, 'pool');
      await mkdir(pool);
      await writeFile(
        join(pool, 'quarry-pool.json'),
        JSON.stringify({ format: 99, createdBy: 'quarry', createdAt: new Date().toISOString() }),
      );
      const r = await runQuarry(['controller', '--endpoint', `unix://${sock}/c.sock`, '--nodeid', 'n1', '--pool', pool]);
      assert.notEqual(r.code, 0);
      assertOneLine(r.stderr, /format 99, newer than this Quarry.*upgrade Quarry/);
    });
  });
}

describe('flags', () => {
  const cases: Array<[string, string[], RegExp]> = [
    ['missing --endpoint', ['controller'], /missing --endpoint: pass --endpoint unix:\/\//],
    ['a TCP endpoint', ['controller', '--endpoint', 'tcp://127.0.0.1:9000'], /invalid --endpoint .*pass a unix socket/],
    ['node without --nodeid', ['node', '--endpoint', 'unix:///tmp/x.sock', '--pool', '/tmp'], /missing --nodeid: pass --nodeid/],
    [
      'node without --pool',
      ['node', '--endpoint', 'unix:///tmp/x.sock', '--nodeid', 'n1'],
      /missing --pool: quarry node needs at least one --pool/,
    ],
    ['local controller with a pool and no node', ['controller', '--endpoint', 'unix:///tmp/x.sock', '--pool', '/tmp'], /missing --nodeid/],
    [
      'bad overprovisioning',
      ['controller', '--endpoint', 'unix:///tmp/x.sock', '--overprovisioning', 'lots'],
      /invalid --overprovisioning "lots": pass a number greater than 0/,
    ],
    ['zero overprovisioning', ['controller', '--endpoint', 'unix:///tmp/x.sock', '--overprovisioning', '0'], /invalid --overprovisioning/],
    [
      'bad pool name',
      ['all', '--endpoint', 'unix:///tmp/x.sock', '--nodeid', 'n1', '--pool', 'Fast!=/tmp'],
      /invalid pool name "Fast!".*--pool fast=\/path/,
    ],
    ['bad node id', ['node', '--endpoint', 'unix:///tmp/x.sock', '--nodeid', '../etc', '--pool', '/tmp'], /invalid --nodeid/],
    ['unknown flag', ['controller', '--endpoint', 'unix:///tmp/x.sock', '--colour'], /--colour.*quarry --help/],
    ['bad log level', ['controller', '--endpoint', 'unix:///tmp/x.sock', '--log-level', 'loud'], /invalid --log-level "loud": pass one of/],
    ['unknown command', ['serve'], /unknown command "serve": pass controller, node, all/],
  ];
  for (const [what, args, pattern] of cases) {
    test(`${what}: one line saying what to pass, exit 2`, async () => {
      const r = await runQuarry(args);
      assert.equal(r.code, 2, r.stderr);
      assertOneLine(r.stderr, new RegExp(`^quarry: .*${pattern.source}`));
    });
  }

  test('--help and --version', async () => {
    const help = await runQuarry(['--help']);
    assert.equal(help.code, 0);
    assert.match(help.stdout, /Usage:\n\s+quarry controller/);
    assert.match(help.stdout, /--pool \[name=\]path/);
    const roleHelp = await runQuarry(['node', '--help']);
    assert.equal(roleHelp.code, 0);
    assert.equal(roleHelp.stdout, help.stdout);
    const version = await runQuarry(['--version']);
    assert.equal(version.code, 0);
    const pkg = JSON.parse(await readFile(new URL('../../../package.json', import.meta.url), 'utf8'));
    assert.equal(version.stdout, `quarry ${pkg.version}\n`);
    const none = await runQuarry([]);
    assert.equal(none.code, 2);
    assert.match(none.stdout, /Usage:/);
  });
});
