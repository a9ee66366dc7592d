// Runs the compiled CLI (`node dist/src/cli/main.js doctor ...`) as a child process against real pools and kubelet dirs.
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { mkdir, readdir, readFile, stat, writeFile } from 'node:fs/promises';
import { dirname, join, resolve } from 'node:path';
import { test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { GiB } from '../../src/domain/bytes.js';
import { run } from '../../src/host/exec.js';
import { bindMount, unmount } from '../../src/host/mount.js';
import { topMountAt } from '../../src/host/mountinfo.js';
import { leakCheck, makeScratchFs, makeTempDir, onCleanup, type HasAfter } from '../helpers/scratch.js';

// dist/test/integration/doctor.test.js → dist/src/cli/main.js
const MAIN = resolve(dirname(fileURLToPath(import.meta.url)), '../../src/cli/main.js');

interface CliResult {
  code: number;
  stdout: string;
  stderr: string;
  lines: string[];
}

function doctor(args: string[]): Promise<CliResult> {
  return new Promise((res, rej) => {
    execFile(process.execPath, [MAIN, 'doctor', ...args], { timeout: 120_000 }, (err, stdout, stderr) => {
      if (err && typeof err.code !== 'number') return rej(err);
      res({ code: err ? (err.code as number) : 0, stdout, stderr, lines: stdout.split('\n').filter(Boolean) });
    });
  });
}

const line = (r: CliResult, prefix: string) => r.lines.find((l) => l.startsWith(prefix));

/** A directory bind-mounted onto itself with the given propagation; unmounted after the test (only this mount). */
async function kubeletDir(t: HasAfter, propagation: 'shared' | 'private'): Promise<string> {
  const base = await makeTempDir(t, `kubelet-${propagation}`);
  const dir = join(base, 'kubelet');
  await mkdir(dir);
  onCleanup(t, () => unmount(dir));
  await bindMount(dir, dir);
  await run('mount', [`--make-${propagation}`, '--', dir]);
  const top = await topMountAt(dir);
  assert.ok(top, 'bind mount is there');
  assert.equal(
    top.optionalFields.some((f) => f.startsWith('shared:')),
    propagation === 'shared',
    `mount is ${propagation}`,
  );
  return dir;
}

/** Every path below `dir` with its type, size, mode, mtime and content: to prove nothing changed. */
async function snapshotTree(dir: string): Promise<string> {
  const out: string[] = [];
  const walk = async (d: string): Promise<void> => {
    const st = await stat(d);
    out.push(`${d} dir ${st.mode} ${st.mtimeMs}`);
    for (const e of (await readdir(d, { withFileTypes: true })).sort((a, b) => a.name.localeCompare(b.name))) {
      const p = join(d, e.name);
      if (e.isDirectory()) await walk(p);
      else {
        const s = await stat(p);
        out.push(`${p} file ${s.mode} ${s.size} ${s.mtimeMs} ${(await readFile(p)).toString('base64')}`);
      }
    }
  };
  await walk(dir);
  return out.join('\n');
}

test('empty pool on XFS with reflink and a shared kubelet dir: all ok, exit 0, pool left empty', async (t) => {
  const fs = await makeScratchFs(t, { fsType: 'xfs', reflink: true, sizeBytes: 2 * GiB });
  const pool = join(fs.mountPath, 'pool');
  await mkdir(pool);
  const kubelet = await kubeletDir(t, 'shared');
  const r = await doctor(['--pool', `fast=${pool}`, '--kubelet-dir', kubelet]);
  assert.equal(r.code, 0, r.stdout + r.stderr);
  assert.equal(r.stderr, '');
  assert.ok(
    r.lines.every((l) => /^(ok {2}|warn|FAIL) [^:]+: /.test(l)),
    r.stdout,
  );
  assert.match(line(r, 'ok   loop devices:') ?? '', /attached and detached \/dev\/loop\d+/);
  assert.ok(line(r, 'ok   tool mkfs.xfs:'), r.stdout);
  assert.ok(line(r, 'ok   kernel filesystem xfs:'), r.stdout);
  assert.equal(line(r, 'ok   pool fast:'), `ok   pool fast: ${pool} is an empty directory (becomes a pool on first start), writable`);
  assert.match(line(r, 'ok   pool fast free space:') ?? '', /free of/);
  assert.equal(line(r, 'ok   pool fast reflink:'), 'ok   pool fast reflink: instant copy-on-write snapshots');
  assert.match(line(r, 'ok   kubelet dir:') ?? '', /shared propagation \(shared:\d+\)/);
  assert.deepEqual(await readdir(pool), [], 'the probe left nothing behind');
});

test('an existing Quarry pool is probed too', async (t) => {
  const fs = await makeScratchFs(t, { fsType: 'xfs', reflink: true, sizeBytes: 2 * GiB });
  await writeFile(join(fs.mountPath, 'quarry-pool.json'), '{"format":1,"createdBy":"quarry","createdAt":"2026-01-01T00:00:00Z"}\n');
  await mkdir(join(fs.mountPath, 'volumes'));
  // The pool root's own mtime changes (the probe's temp subdir comes and goes); everything else must not.
  const withoutRoot = async () => (await snapshotTree(fs.mountPath)).split('\n').slice(1).join('\n');
  const before = await withoutRoot();
  const r = await doctor(['--pool', fs.mountPath, '--kubelet-dir', join(fs.dir, 'no-kubelet')]);
  assert.equal(r.code, 0, r.stdout);
  assert.match(line(r, 'ok   pool default:') ?? '', /is a Quarry pool, writable/);
  assert.equal(line(r, 'ok   pool default reflink:'), 'ok   pool default reflink: instant copy-on-write snapshots');
  assert.match(line(r, 'warn kubelet dir:') ?? '', /not a Kubernetes node yet/);
  assert.equal(await withoutRoot(), before);
});

test('a non-empty foreign directory FAILs and stays byte-for-byte unchanged', async (t) => {
  const base = await makeTempDir(t, 'foreign');
  const foreign = join(base, 'data');
  await mkdir(join(foreign, 'sub'), { recursive: true });
  await writeFile(join(foreign, 'important.db'), Buffer.from([0, 1, 2, 3, 255]));
  await writeFile(join(foreign, 'sub', 'notes.txt'), 'do not touch\n');
  const before = await snapshotTree(foreign);
  const kubelet = await kubeletDir(t, 'shared');
  const r = await doctor(['--pool', `other=${foreign}`, '--kubelet-dir', kubelet]);
  assert.equal(r.code, 1, r.stdout);
  const l = line(r, 'FAIL pool other:') ?? '';
  assert.match(l, /non-empty directory that Quarry did not create \(no quarry-pool\.json\)/);
  assert.match(l, / — fix: pass an empty directory or an existing Quarry pool/);
  assert.ok(line(r, 'warn pool other reflink: not probed'), r.stdout);
  assert.equal(r.lines.filter((x) => x.startsWith('FAIL')).length, 1, r.stdout);
  assert.equal(await snapshotTree(foreign), before);
});

test('a private kubelet dir FAILs with the propagation fix', async (t) => {
  const kubelet = await kubeletDir(t, 'private');
  const r = await doctor(['--kubelet-dir', kubelet]);
  assert.equal(r.code, 1, r.stdout);
  const l = line(r, 'FAIL kubelet dir:') ?? '';
  assert.match(l, /private propagation/);
  assert.match(l, /— fix: .*mount --make-rshared \/.*Bidirectional/);
  assert.equal(r.lines.filter((x) => x.startsWith('FAIL')).length, 1, r.stdout);
});

test('a missing kubelet dir only warns; --json prints an array', async (t) => {
  const base = await makeTempDir(t, 'nokubelet');
  const r = await doctor(['--kubelet-dir', join(base, 'absent'), '--json']);
  assert.equal(r.code, 0, r.stdout);
  const results = JSON.parse(r.stdout) as Array<{ check: string; status: string; detail: string; fix?: string }>;
  assert.ok(Array.isArray(results));
  const k = results.find((x) => x.check === 'kubelet dir');
  assert.equal(k?.status, 'warn');
  assert.match(k?.detail ?? '', /not a Kubernetes node yet/);
  assert.ok(results.every((x) => ['ok', 'warn', 'fail'].includes(x.status)));
  assert.ok(results.some((x) => x.check === 'loop direct I/O'));
});

test('bad flags exit 2 with one line saying what to pass', async () => {
  for (const args of [['--bogus'], ['--pool', 'Bad=/x'], ['--kubelet-dir']]) {
    const r = await doctor(args);
    assert.equal(r.code, 2, `${args.join(' ')}: ${r.stderr}`);
    assert.equal(r.stdout, '');
    assert.equal(r.stderr.trim().split('\n').length, 1, r.stderr);
    assert.match(r.stderr, /^quarry: .*pass /);
  }
});

test('no loops or mounts leaked by this file', async () => {
  const leaks = await leakCheck();
  assert.deepEqual(leaks.loops, []);
  assert.deepEqual(leaks.mounts, []);
});
