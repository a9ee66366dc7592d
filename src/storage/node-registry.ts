import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { failedPrecondition } from '../domain/errors.js';
import type { NodeId } from '../domain/ids.js';
import { ensureDir, writeFileAtomic } from './durable-file.js';
import { poolSubdirs } from './pool-dir.js';

export const NODE_RECORD_FORMAT = 1;

/** Shared mode: a node service announces itself in the pool so the controller can publish to it. */
export interface NodeRegistration {
  format: typeof NODE_RECORD_FORMAT;
  nodeId: string;
  /** 0 means no limit. */
  maxVolumesPerNode: number;
  registeredAt: string;
}

/**
 * The pool's `nodes/` directory. Callers pass node IDs already checked by
 * parseNodeId, so `${nodeId}.json` is always one path component.
 */
export class NodeRegistry {
  readonly dir: string;

  constructor(poolRoot: string) {
    this.dir = poolSubdirs(poolRoot).nodes;
  }

  pathOf(nodeId: NodeId): string {
    return join(this.dir, `${nodeId}.json`);
  }

  /** Written at every start: a restarted node with a new limit replaces its old record atomically. */
  async register(nodeId: NodeId, maxVolumesPerNode: number): Promise<NodeRegistration> {
    const record: NodeRegistration = {
      format: NODE_RECORD_FORMAT,
      nodeId,
      maxVolumesPerNode,
      registeredAt: new Date().toISOString(),
    };
    await ensureDir(this.dir);
    await writeFileAtomic(this.pathOf(nodeId), `${JSON.stringify(record, null, 2)}\n`);
    return record;
  }

  async read(nodeId: NodeId): Promise<NodeRegistration | undefined> {
    let text: string;
    try {
      text = await readFile(this.pathOf(nodeId), 'utf8');
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
      throw err;
    }
    return parseRegistration(text, this.pathOf(nodeId), nodeId);
  }
}

function parseRegistration(text: string, path: string, nodeId: NodeId): NodeRegistration {
  let value: Partial<NodeRegistration>;
  try {
    value = JSON.parse(text);
  } catch {
    throw corrupt(path, 'it is not valid JSON');
  }
  const limitOk = Number.isInteger(value?.maxVolumesPerNode) && value.maxVolumesPerNode! >= 0;
  if (value?.format !== NODE_RECORD_FORMAT || value.nodeId !== nodeId || !limitOk) {
    throw corrupt(path, `expected a format ${NODE_RECORD_FORMAT} registration of node ${nodeId}`);
  }
  return value as NodeRegistration;
}

function corrupt(path: string, why: string) {
  return failedPrecondition(`node registration ${path} is corrupt (${why}); restart the node service on that node to rewrite it`);
}
