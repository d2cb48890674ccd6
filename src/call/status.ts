import { Metadata, status as Status, type StatusObject } from '@grpc/grpc-js';
import { z } from 'zod';

export type StatusName = keyof typeof Status;

const NAMES = Object.keys(Status).filter((key) => Number.isNaN(Number(key))) as StatusName[];

/** `UNAVAILABLE` for 14, and so on; `CODE_99` for a code gRPC does not define. */
export function statusName(code: number): string {
  return (Status as unknown as Record<number, string>)[code] ?? `CODE_${code}`;
}

/** A status code given by name ("UNAVAILABLE") or number (14). */
export const statusCodeSchema = z.union([
  z.enum(NAMES as [StatusName, ...StatusName[]]).transform((name) => Status[name] as number),
  z
    .number()
    .int()
    .refine((code) => code in Status, { message: 'not a gRPC status code' }),
]);

/** Builds a status object with fresh metadata. */
export function makeStatus(code: Status, details: string, metadata: Metadata = new Metadata()): StatusObject {
  return { code, details, metadata };
}
