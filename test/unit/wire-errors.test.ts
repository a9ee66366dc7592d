import { test } from 'node:test';
import assert from 'node:assert/strict';
import { status } from '@grpc/grpc-js';
import { Code, QuarryError, notFound, resourceExhausted } from '../../src/domain/errors.js';
import { codeName, toServiceError, toStatus } from '../../src/wire/errors.js';

test('a QuarryError keeps its code and message', () => {
  assert.deepEqual(toStatus(notFound('volume vol-x does not exist')), { code: status.NOT_FOUND, message: 'volume vol-x does not exist' });
  const e = toServiceError(resourceExhausted('pool full'));
  assert.equal(e.code, status.RESOURCE_EXHAUSTED);
  assert.equal(e.details, 'pool full');
  assert.ok(e.metadata);
  for (const c of [Code.INVALID_ARGUMENT, Code.ABORTED, Code.UNIMPLEMENTED, Code.UNAVAILABLE, Code.DEADLINE_EXCEEDED]) {
    assert.equal(toStatus(new QuarryError(c, 'm')).code, c as number);
  }
});

test('anything else becomes INTERNAL with its message, never a throw', () => {
  assert.deepEqual(toStatus(new Error('boom')), { code: status.INTERNAL, message: 'unexpected error: boom' });
  assert.equal(toStatus('a string').code, status.INTERNAL);
  assert.equal(toStatus(undefined).code, status.INTERNAL);
  assert.equal(toStatus(null).code, status.INTERNAL);
  assert.equal(toStatus({ code: 5, message: 'not a QuarryError' }).code, status.INTERNAL);
  const evil = new Error('x');
  Object.defineProperty(evil, 'message', {
    get() {
      throw new Error('nope');
    },
  });
  assert.equal(toStatus(evil).code, status.INTERNAL);
  // A QuarryError that says OK is still an error.
  assert.equal(toStatus(new QuarryError(Code.OK, 'odd')).code, status.UNKNOWN);
});

test('toServiceError scrubs its message', () => {
  const e = toServiceError(new Error('password is hunter2'), (s) => s.replace('hunter2', '[REDACTED]'));
  assert.equal(e.details, 'unexpected error: password is [REDACTED]');
  assert.ok(!e.message.includes('hunter2'));
});

test('codeName', () => {
  assert.equal(codeName(status.NOT_FOUND), 'NOT_FOUND');
  assert.equal(codeName(status.OK), 'OK');
  assert.equal(codeName(99), 'UNKNOWN(99)');
});
