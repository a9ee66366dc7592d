// Tests use the same typed client as `quarry demo`.
export * from '../../src/wire/client.js';
