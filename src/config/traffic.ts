// Traffic management in the mesh config: endpoint labels, subsets (label selectors), and a
// service's ordered routes (method and header matches, weighted destinations, per-route
// timeout and retry, fault injection, mirroring). Names follow Gateway API's GRPCRoute and
// Istio's so users recognise them. Cross-field rules (a subset a route names must exist, …)
// are checked by the service schema with checkTraffic().
import { RE2JS } from 're2js';
import * as z from 'zod/mini';
import { statusCodeSchema } from '../call/status.js';
import { retryPolicySchema } from '../interceptors/retry/policy.js';
import { DAY, MAX_WEIGHT, MINUTE, durationMs, methodName, percent } from '../schema/bounds.js';

/** A label or subset name: what Kubernetes allows in a label key's name part, and a "/" prefix. */
const LABEL_KEY = /^([a-z0-9.-]{1,253}\/)?[A-Za-z0-9]([A-Za-z0-9._-]{0,61}[A-Za-z0-9])?$/;
const NAME = /^[A-Za-z0-9]([A-Za-z0-9._-]{0,61}[A-Za-z0-9])?$/;

/** `{ "version": "v2", "zone": "eu-1a" }` on an endpoint. */
export const labelsSchema = z
  .record(
    z.string().check(z.regex(LABEL_KEY, 'is not a label name (letters, digits, ".", "_", "-"; at most 63)')),
    z.string().check(z.maxLength(63)),
  )
  .check(z.refine((labels) => Object.keys(labels).length <= 32, 'has more than 32 labels'));

/** The longest regular expression a header match may hold (RE2 keeps matching linear; this bounds its size). */
export const MAX_PATTERN_LENGTH = 256;

const headerName = z
  .pipe(
    z.string().check(z.minLength(1), z.maxLength(128)),
    z.transform((name) => name.toLowerCase()),
  )
  .check(
    z.refine((name) => !name.endsWith('-bin'), 'is a binary header ("-bin"): its bytes cannot be matched as text'),
    z.refine((name) => /^[a-z0-9_.-]+$/.test(name), 'is not a metadata key (lower-case letters, digits, "_", ".", "-")'),
  );

const regexPattern = z.string().check(
  z.maxLength(MAX_PATTERN_LENGTH),
  z.superRefine((pattern, context) => {
    try {
      RE2JS.compile(pattern);
    } catch (error) {
      context.addIssue({ code: 'custom', message: `is not a regular expression RE2 accepts: ${(error as Error).message}`, input: pattern });
    }
  }),
);

/**
 * One header match. A call's metadata value must equal `exact`, start with `prefix`, match
 * `regex` whole (RE2 syntax, linear time), or the header must be `present` or `absent`.
 * Names are lower-cased, as gRPC writes them; binary (`-bin`) headers are refused.
 */
export const headerMatchSchema = z.union([
  z.strictObject({ name: headerName, exact: z.string().check(z.maxLength(1024)) }),
  z.strictObject({ name: headerName, prefix: z.string().check(z.minLength(1), z.maxLength(1024)) }),
  z.strictObject({ name: headerName, regex: regexPattern }),
  z.strictObject({ name: headerName, present: z.literal(true) }),
  z.strictObject({ name: headerName, absent: z.literal(true) }),
]);

const destinationSchema = z.strictObject({
  subset: z.string().check(z.regex(NAME, 'is not a subset name')),
  weight: z._default(z.int().check(z.minimum(0), z.maximum(MAX_WEIGHT)), 1),
});

/** gRPC A33's fault injection: first the delay (for `percent` of calls), then the abort. */
const faultSchema = z
  .strictObject({
    delay: z.optional(z.strictObject({ ms: durationMs(0, 10 * MINUTE), percent: percent() })),
    abort: z.optional(z.strictObject({ code: statusCodeSchema, percent: percent() })),
  })
  .check(z.refine((fault) => fault.delay !== undefined || fault.abort !== undefined, 'names neither a delay nor an abort'));

const mirrorSchema = z.strictObject({
  subset: z.string().check(z.regex(NAME, 'is not a subset name')),
  percent: z._default(percent(), 100),
});

export const routeSchema = z.strictObject({
  /** Names the route in events, metrics and snapshots; default `route-<n>` (its place, from 0). */
  name: z.optional(z.string().check(z.regex(NAME, 'is not a route name (letters, digits, ".", "_", "-"; at most 63)'))),
  /** What calls the route takes; none: every call. Both parts must match. */
  match: z.optional(
    z.strictObject({
      /** "package.Service/Method", or "package.Service" for all its methods. */
      method: z.optional(methodName()),
      /** Every one must match. */
      headers: z.optional(z.array(headerMatchSchema).check(z.maxLength(16))),
    }),
  ),
  /** Where its calls go, split by weight; none: every endpoint of the service, as without routes. */
  destinations: z.optional(z.array(destinationSchema).check(z.minLength(1), z.maxLength(16))),
  /** When the chosen subset has no usable endpoint: "any" of the service's endpoints (default), or "none" (UNAVAILABLE). */
  fallback: z._default(z.enum(['any', 'none']), 'any'),
  /** The route's own whole-call deadline, in place of the client's. */
  timeoutMs: z.optional(durationMs(1, DAY)),
  /** The route's own retry policy, over the client's. */
  retry: z.optional(retryPolicySchema),
  fault: z.optional(faultSchema),
  /** A copy of a share of the calls to another subset; its answer is dropped. */
  mirror: z.optional(mirrorSchema),
});

export const subsetsSchema = z.record(
  z.string().check(z.regex(NAME, 'is not a subset name (letters, digits, ".", "_", "-"; at most 63)')),
  labelsSchema.check(z.refine((selector) => Object.keys(selector).length > 0, 'selects every endpoint: name at least one label')),
);

export type RouteConfig = z.output<typeof routeSchema>;
export type HeaderMatchConfig = z.output<typeof headerMatchSchema>;

/** What checkTraffic reads of a service. */
interface TrafficFields {
  readonly subsets?: Readonly<Record<string, Readonly<Record<string, string>>>> | undefined;
  readonly routes?: readonly RouteConfig[] | undefined;
}

/** The cross-field rules of a service's traffic settings, as zod issues on `context`. */
export function checkTraffic(service: TrafficFields, context: z.core.$RefinementCtx): void {
  const subsets = service.subsets ?? {};
  const names = new Set<string>();
  (service.routes ?? []).forEach((route, index) => {
    const at = ['routes', index];
    const name = route.name ?? `route-${index}`;
    if (names.has(name)) context.addIssue({ code: 'custom', path: [...at, 'name'], message: 'names a route twice', input: name });
    names.add(name);
    const unknown = (subset: string, path: Array<string | number>) => {
      if (Object.hasOwn(subsets, subset)) return;
      const known = Object.keys(subsets);
      context.addIssue({
        code: 'custom',
        path: [...at, ...path],
        message: `names no subset of the service (subsets: ${known.length > 0 ? known.join(', ') : 'none'})`,
        input: subset,
      });
    };
    route.destinations?.forEach((destination, d) => unknown(destination.subset, ['destinations', d, 'subset']));
    if (route.destinations && route.destinations.every((destination) => destination.weight === 0)) {
      context.addIssue({
        code: 'custom',
        path: [...at, 'destinations'],
        message: 'every destination has weight 0, so the route would send nothing anywhere',
        input: route.destinations.map((destination) => destination.weight),
      });
    }
    if (route.mirror) {
      unknown(route.mirror.subset, ['mirror', 'subset']);
      if (route.destinations?.some((destination) => destination.subset === route.mirror!.subset && destination.weight > 0)) {
        context.addIssue({
          code: 'custom',
          path: [...at, 'mirror', 'subset'],
          message: 'is also a destination of the route: its calls would reach it twice',
          input: route.mirror.subset,
        });
      }
    }
  });
}
