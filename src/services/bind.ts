import type { CallContext } from '../wire/types.js';
import type { ServiceContext } from './context.js';

/** One RPC as a service file implements it: the context first, then the decoded request. */
type ContextHandler<H> = H extends (req: infer Req, call: CallContext) => Promise<infer Res>
  ? (ctx: ServiceContext, req: Req, call: CallContext) => Promise<Res>
  : H extends (req: infer Req, call: CallContext) => AsyncIterable<infer Res>
    ? (ctx: ServiceContext, req: Req, call: CallContext) => AsyncIterable<Res>
    : never;

/** A table entry once its request and response types have done their work at compile time. */
type BoundLater = (ctx: ServiceContext, req: unknown, call: CallContext) => Promise<unknown> | AsyncIterable<unknown>;

/** RPC name → the service function that answers it, typed by the generated request and response. */
export type HandlerTable<Handlers> = { [K in keyof Handlers]?: ContextHandler<NonNullable<Handlers[K]>> };

/**
 * Binds every handler of a table to this process's context: the one place where the wire's
 * `(req, call)` meets the services' `(ctx, req, call)` (design: Request types).
 */
export function bindHandlers<Handlers extends object>(ctx: ServiceContext, table: HandlerTable<Handlers>): Handlers {
  const bound: Record<string, unknown> = {};
  for (const [name, handler] of Object.entries(table) as [string, BoundLater][]) {
    bound[name] = (req: unknown, call: CallContext) => handler(ctx, req, call);
  }
  return bound as Handlers;
}
