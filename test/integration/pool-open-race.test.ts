// Controller and node processes opening one empty directory at the same instant all get the same pool.
import assert from 'node:assert/strict';
import { mkdir, readdir } from 'node:fs/promises';
import { join } from 'node:path';
import { it } from 'node:test';
import { call } from '../helpers/grpc-client.js';
import { startQuarry } from '../helpers/quarry-process.js';
import { makeTempDir } from '../helpers/scratch.js';

it('six processes starting together on one empty directory all serve it', async (t) => {
  const dir = await makeTempDir(t, 'pool-race');
  for (let round = 0; round < 3; round++) {
    const pool = join(dir, `pool-${round}`);
    await mkdir(pool);
    const roles = ['controller', 'node', 'node', 'controller', 'node', 'node'] as const;
    const procs = await Promise.all(
      roles.map((role, i) => startQuarry(t, { role, dir, socketName: `r${round}-${i}.sock`, args: ['--nodeid', `n${i}`, '--pool', pool] })),
    );
    for (const p of procs) assert.equal((await call(p.clients.identity, 'Probe', {})).ready?.value, true);
    assert.deepEqual((await readdir(pool)).filter((e) => !e.startsWith('.')).sort(), ['nodes', 'quarry-pool.json', 'snapshots', 'volumes']);
    await Promise.all(procs.map((p) => p.kill()));
  }
});
