import { Metadata, status as Status, type StatusObject } from '@grpc/grpc-js';
import * as z from 'zod/mini';

export type StatusName = keyof typeof Status;

const NAMES = Object.keys(Status).filter((key) => Number.isNaN(Number(key))) as StatusName[];

/** `UNAVAILABLE` for 14, and so on; `CODE_99` for a code gRPC does not define. */
export function statusName(code: number): string {
  return (Status as unknown as Record<number, string>)[code] ?? `CODE_${code}`;
}

/** A status code given by name ("UNAVAILABLE") or number (14). */
export const statusCodeSchema = z.union([
  z.pipe(
    z.enum(NAMES as [StatusName, ...StatusName[]]),
    z.transform((name) => Status[name] as number),
  ),
  z.int().check(z.refine((code) => code in Status, { message: 'not a gRPC status code' })),
]);

/** Builds a status object with fresh metadata. */
export function makeStatus(code: Status, details: string, metadata: Metadata = new Metadata()): StatusObject {
  return { code, details, metadata };
}

/**
 * Codes that say the dependency is unhealthy or the call could not be served: logged at the
 * failure level. Every other code (NOT_FOUND, INVALID_ARGUMENT, ALREADY_EXISTS,
 * PERMISSION_DENIED, FAILED_PRECONDITION, ...) is the server's answer to this request and is
 * logged like a success, as go-grpc-middleware and Envoy's access logs treat them.
 */
export const UNHEALTHY_CODES: readonly StatusName[] = Object.freeze([
  'UNKNOWN',
  'DEADLINE_EXCEEDED',
  'RESOURCE_EXHAUSTED',
  'UNIMPLEMENTED',
  'INTERNAL',
  'UNAVAILABLE',
  'DATA_LOSS',
]);

/** UNHEALTHY_CODES as numbers: a call or attempt that ended with one failed; any other code is an answer. */
export const UNHEALTHY_CODE_SET: ReadonlySet<number> = new Set(UNHEALTHY_CODES.map((name) => Status[name]));

/** A list of status codes (names or numbers) as numbers; the unhealthy codes when absent. */
export const failureCodesSchema = z._default(
  z.array(statusCodeSchema),
  UNHEALTHY_CODES.map((name) => Status[name]),
);
