// Shared mode: the controller is SIGKILLed after recording an attachment and before answering;
// the retry after a restart returns that same attachment and token, and there is exactly one.
import { after, test } from 'node:test';
import * as assert from 'node:assert/strict';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import * as grpc from '@grpc/grpc-js';
import type { VolumeRecord } from '../../src/storage/records.js';
import { rejectsWithCode } from '../helpers/quarry-process.js';
import { assertNoLeaks } from '../helpers/scratch.js';
import {
  controllerPublish,
  controllerUnpublish,
  createVolume,
  stageAndPublish,
  startSharedCluster,
  tokenOf,
  unpublishAndUnstage,
} from './shared-cluster.js';

const FAULT = 'controller-publish:after-record';

after(assertNoLeaks);

test(`a controller killed at ${FAULT} gives the same token on retry`, async (t) => {
  const c = await startSharedCluster(t);
  const id = await createVolume(c, 'crash');
  await c.controller.kill();
  const crashing = await c.startController({ QUARRY_FAULT_POINT: FAULT });

  const pending = controllerPublish(c, id, 'node-a');
  const outcome = rejectsWithCode(pending, grpc.status.UNAVAILABLE); // handled now: it fails while we kill
  await crashing.waitForFaultPoint(FAULT);
  const recordPath = join(c.pool, 'volumes', `${id}.json`);
  const recorded = (JSON.parse(await readFile(recordPath, 'utf8')) as VolumeRecord).attachments;
  assert.equal(recorded.length, 1, 'the attachment is recorded before the answer');
  assert.equal(recorded[0]!.nodeId, 'node-a');
  await crashing.kill();
  await outcome;

  await c.startController();
  const retried = await controllerPublish(c, id, 'node-a');
  assert.equal(tokenOf(retried), recorded[0]!.token, 'the retry returns the token recorded before the crash');
  const after = (JSON.parse(await readFile(recordPath, 'utf8')) as VolumeRecord).attachments;
  assert.deepEqual(after, recorded, 'exactly one attachment record');

  // The grant works end to end, and node-b is still refused.
  await rejectsWithCode(controllerPublish(c, id, 'node-b'), grpc.status.FAILED_PRECONDITION, /node node-a/);
  await stageAndPublish(c, 'node-a', id, retried);
  await unpublishAndUnstage(c, 'node-a', id);
  await controllerUnpublish(c, id, 'node-a');
});
