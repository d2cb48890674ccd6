// Identity-based authorization: the caller's identity (from the client certificate that mutual
// TLS verified) against an allow-list per service and method, before the handler runs.
import { status as Status } from '@grpc/grpc-js';
import * as z from 'zod/mini';
import { fullMethodName } from '../call/method.js';
import { methodLookup, type MethodTable } from '../call/method-table.js';
import { methodName, methodTable } from '../schema/bounds.js';
import { resolveWith } from '../schema/validate.js';
import { silentLogger, type Logger } from '../observability/logger.js';
import { isAllowed } from '../security/identity.js';
import type { ServerLayer } from './types.js';

export interface AuthorizationOptions {
  /**
   * Who may call what, keyed like a service config's names ("pkg.Service/Method", "pkg.Service"
   * or "*"; the most specific wins): SPIFFE/URI identities, DNS names ("web.internal",
   * "*.internal") or "*" (any verified certificate). A method without an entry is denied.
   */
  allow: MethodTable<readonly string[]>;
  /** Methods anyone may call, certificate or not. Default: the grpc.health.v1 service, so the mesh's health checks keep working. */
  public?: readonly string[];
  logger?: Logger;
}

export const AUTHORIZATION_DEFAULTS = Object.freeze({ public: ['grpc.health.v1.Health'] as readonly string[] });

const authorizationSchema = z.strictObject({
  allow: methodTable(z.array(z.string().check(z.minLength(1)))),
  public: z._default(z.array(z.union([z.literal('*'), methodName(true)])), [...AUTHORIZATION_DEFAULTS.public]),
  logger: z.optional(z.custom<Logger>()),
});

export function resolveAuthorizationOptions(options: AuthorizationOptions) {
  return resolveWith(authorizationSchema, options, 'authorization options');
}

/**
 * Refuses, before the handler runs, a caller without a verified client certificate
 * (UNAUTHENTICATED) and one whose identity is not on the method's list (PERMISSION_DENIED);
 * each refusal is logged with the identity (its SANs, never the certificate). Needs server
 * credentials that request client certificates (`serverCredentials` with a CA).
 *
 * @example
 *   authorizationLayer({ allow: { 'orders.v1.OrderService': ['spiffe://mesh/web'], 'orders.v1.OrderService/CreateOrder': ['spiffe://mesh/checkout'] } })
 */
export function authorizationLayer(options: AuthorizationOptions): ServerLayer {
  const resolved = resolveAuthorizationOptions(options);
  const logger = resolved.logger ?? silentLogger;
  const allowedFor = methodLookup<readonly string[]>(resolved.allow, []);
  const isPublic = methodLookup<boolean>(Object.fromEntries(resolved.public.map((name) => [name, true])), false);
  return (next) => (call) => {
    if (isPublic(call.method)) return next(call);
    const identity = call.identity();
    if (!identity) {
      logger.warn({ method: fullMethodName(call.method.path), peer: call.peer }, 'refused: no trusted client certificate');
      return Promise.resolve({
        status: {
          code: Status.UNAUTHENTICATED,
          details: `${call.method.path} needs a client certificate the server trusts (mutual TLS): none was presented, or it is not signed by the server's CA`,
        },
      });
    }
    if (!isAllowed(identity, allowedFor(call.method))) {
      logger.warn(
        {
          method: fullMethodName(call.method.path),
          peer: call.peer,
          identity: identity.name,
          dnsNames: identity.dnsNames,
          uris: identity.uris,
        },
        'refused: identity not allowed',
      );
      return Promise.resolve({ status: { code: Status.PERMISSION_DENIED, details: `${identity.name} may not call ${call.method.path}` } });
    }
    return next(call);
  };
}
