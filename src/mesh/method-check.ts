// The per-method settings of a client's stack, held against the methods the client has. A
// method table is keyed by name ("package.Service/Method"), and a name that matches no call
// is a setting that silently does nothing — a typo, or hedging where it can never apply.
// mesh.client() knows the client's service definition, so it refuses those by name.
import type { ServiceDefinition } from '@grpc/grpc-js';
import { describeMethod, type MethodInfo } from '../call/method.js';
import { ConfigError } from '../errors.js';
import type { DeadlineOptions } from '../interceptors/deadline.js';
import { retryPolicyLookup, type RetryPolicy } from '../interceptors/retry/policy.js';
import type { RetryOptions } from '../interceptors/retry/retry.js';

const KIND_NAMES = { unary: 'unary', server_stream: 'server streaming', client_stream: 'client streaming', bidi_stream: 'bidi streaming' } as const;

/**
 * Throws a ConfigError for a `deadline.methods` or `retry.methods` key that names a method of
 * the client's service which the service does not have, and for hedging set on one method
 * that cannot be hedged (not unary, or not idempotent once its service's and "*"'s settings
 * are merged in). Keys naming another service, a whole service or "*" are left alone: a mesh
 * service's config may serve clients of several gRPC services.
 */
export function checkMethodSettings(
  definition: ServiceDefinition,
  settings: { readonly deadline?: DeadlineOptions | false; readonly retry?: RetryOptions | false },
  /** Where each section came from, as the error names it: "services.orders.client.retry", "stack.retry". */
  at: { readonly deadline: string; readonly retry: string },
  where: string,
): void {
  const methods = Object.values(definition).map((method) => describeMethod(method.path, method.requestStream, method.responseStream));
  const named = (field: string, key: string): MethodInfo | undefined => {
    const slash = key.indexOf('/');
    if (slash < 0) return undefined;
    const service = key.slice(0, slash);
    const ofService = methods.filter((method) => method.service === service);
    if (ofService.length === 0) return undefined;
    const method = ofService.find((candidate) => candidate.name === key.slice(slash + 1));
    if (method) return method;
    const names = ofService.map((candidate) => candidate.name).join(', ');
    throw new ConfigError(`${field}["${key}"]`, key, `${where}: ${field}["${key}"] names no method of ${service} (it has ${names})`);
  };

  const deadline = settings.deadline === false ? undefined : settings.deadline;
  for (const key of Object.keys(deadline?.methods ?? {})) named(`${at.deadline}.methods`, key);

  const retry = settings.retry === false ? undefined : settings.retry;
  const table: Readonly<Record<string, RetryPolicy>> = retry?.methods ?? {};
  const { maxAttempts, backoff, retryableCodes, perAttemptTimeoutMs, idempotent, hedging } = retry ?? {};
  const policyFor = retryPolicyLookup({ maxAttempts, backoff, retryableCodes, perAttemptTimeoutMs, idempotent, hedging }, table, 'retry options');
  for (const [key, policy] of Object.entries(table)) {
    const method = named(`${at.retry}.methods`, key);
    if (!method || !policy.hedging) continue;
    const field = `${at.retry}.methods["${key}"].hedging`;
    if (method.kind !== 'unary') {
      throw new ConfigError(field, policy.hedging, `${where}: ${field}: hedging applies to unary methods only; ${method.name} is ${KIND_NAMES[method.kind]}`);
    }
    if (!policyFor(method).idempotent) {
      throw new ConfigError(
        field,
        policy.hedging,
        `${where}: ${field}: hedging sends a call more than once, so it applies to idempotent methods only: set idempotent: true for ${method.name} (or for its service)`,
      );
    }
  }
}
