// The per-method settings of a client's stack, held against the methods the client has. A
// method table is keyed by name ("package.Service/Method"), and a name that matches no call
// is a setting that silently does nothing — a typo, or hedging where it can never apply.
// mesh.client() knows the client's service definition, so it names them: refused when the
// code passed them, a warning when they came from the config (which a reload may change, and
// which clients built from an older proto share).
import type { ServiceDefinition } from '@grpc/grpc-js';
import { describeMethod, type MethodInfo } from '../call/method.js';
import type { DeadlineOptions } from '../interceptors/deadline.js';
import { retryPolicyLookup, type RetryPolicy } from '../interceptors/retry/policy.js';
import type { RetryOptions } from '../interceptors/retry/retry.js';

const KIND_NAMES = {
  unary: 'unary',
  server_stream: 'server streaming',
  client_stream: 'client streaming',
  bidi_stream: 'bidi streaming',
} as const;

/** A per-method setting that would do nothing for this client, and where it was set. */
export interface MethodSettingProblem {
  readonly section: 'deadline' | 'retry';
  /** As the config or the options name it: `services.orders.client.retry.methods["…"].hedging`. */
  readonly field: string;
  readonly value: unknown;
  /** The field and why, as an error or a log line says it. */
  readonly message: string;
}

/**
 * The `deadline.methods` and `retry.methods` keys that name a method of the client's service
 * which the service does not have, or a service of the client's package that the client does
 * not have (a typo of its name, whole or before a method), and hedging set on one method that
 * cannot be hedged (not unary, or not idempotent once its service's and "*"'s settings are
 * merged in). Keys naming another package's service, or "*", are left alone: a mesh service's
 * config may serve clients of several gRPC services.
 */
export function checkMethodSettings(
  definition: ServiceDefinition,
  settings: { readonly deadline?: DeadlineOptions | false; readonly retry?: RetryOptions | false },
  /** Where each section came from, as a problem names it: "services.orders.client.retry", "stack.retry". */
  at: { readonly deadline: string; readonly retry: string },
): MethodSettingProblem[] {
  const problems: MethodSettingProblem[] = [];
  const methods = Object.values(definition).map((method) => describeMethod(method.path, method.requestStream, method.responseStream));
  const services = [...new Set(methods.map((method) => method.service))];
  const packageOf = (service: string) => service.slice(0, service.lastIndexOf('.') + 1);
  /**
   * A service name in a key that this client lacks while it has a service of the same package:
   * a typo ("kv.v1.Stor" for "kv.v1.Store"). A key of another package is left alone: a mesh
   * service's config may serve clients of several gRPC services.
   */
  const strayService = (section: MethodSettingProblem['section'], key: string, service: string): boolean => {
    if (services.includes(service) || !services.some((own) => packageOf(own) === packageOf(service) && packageOf(service) !== ''))
      return false;
    const field = `${at[section]}.methods["${key}"]`;
    problems.push({ section, field, value: key, message: `${field} names no service of this client (it has ${services.join(', ')})` });
    return true;
  };
  const named = (section: MethodSettingProblem['section'], key: string): MethodInfo | undefined => {
    const slash = key.indexOf('/');
    if (slash < 0) {
      strayService(section, key, key);
      return undefined;
    }
    const service = key.slice(0, slash);
    const ofService = methods.filter((method) => method.service === service);
    if (ofService.length === 0) {
      strayService(section, key, service);
      return undefined;
    }
    const method = ofService.find((candidate) => candidate.name === key.slice(slash + 1));
    if (method) return method;
    const field = `${at[section]}.methods["${key}"]`;
    const names = ofService.map((candidate) => candidate.name).join(', ');
    problems.push({ section, field, value: key, message: `${field} names no method of ${service} (it has ${names})` });
    return undefined;
  };

  const deadline = settings.deadline === false ? undefined : settings.deadline;
  for (const key of Object.keys(deadline?.methods ?? {})) named('deadline', key);

  const retry = settings.retry === false ? undefined : settings.retry;
  const table: Readonly<Record<string, RetryPolicy>> = retry?.methods ?? {};
  const { maxAttempts, backoff, retryableCodes, perAttemptTimeoutMs, idempotent, hedging } = retry ?? {};
  const policyFor = retryPolicyLookup(
    { maxAttempts, backoff, retryableCodes, perAttemptTimeoutMs, idempotent, hedging },
    table,
    'retry options',
  );
  for (const [key, policy] of Object.entries(table)) {
    const method = named('retry', key);
    if (!method || !policy.hedging) continue;
    const field = `${at.retry}.methods["${key}"].hedging`;
    if (method.kind !== 'unary') {
      problems.push({
        section: 'retry',
        field,
        value: policy.hedging,
        message: `${field}: hedging applies to unary methods only; ${method.name} is ${KIND_NAMES[method.kind]}`,
      });
    } else if (!policyFor(method).idempotent) {
      problems.push({
        section: 'retry',
        field,
        value: policy.hedging,
        message: `${field}: hedging sends a call more than once, so it applies to idempotent methods only: set idempotent: true for ${method.name} (or for its service)`,
      });
    }
  }
  return problems;
}
