import * as grpc from '@grpc/grpc-js';

export const HEALTH_SERVICE_NAME = 'grpc.health.v1.Health';

export interface HealthCheckRequest {
  service: string;
}

export interface HealthCheckResponse {
  status: 'UNKNOWN' | 'SERVING' | 'NOT_SERVING' | 'SERVICE_UNKNOWN';
}

export interface HealthListResponse {
  statuses: Record<string, HealthCheckResponse>;
}

type Status = HealthCheckResponse['status'];
const STATUS_NAMES: readonly Status[] = ['UNKNOWN', 'SERVING', 'NOT_SERVING', 'SERVICE_UNKNOWN'];

/**
 * grpc.health.v1's three messages in protobuf's wire format, written out: loading protobuf.js
 * through proto-loader for them cost an import about 50 ms, more than the rest of the
 * health code together. The bytes are protobuf.js's (a test compares them with the shipped
 * protos/health.proto through proto-loader); decoding reads what any encoder writes: fields in
 * any order, repeated ones (the last wins), and fields it does not know are skipped.
 */
class Writer {
  readonly #bytes: number[] = [];

  varint(value: number): this {
    let v = value >>> 0;
    while (v > 0x7f) {
      this.#bytes.push((v & 0x7f) | 0x80);
      v >>>= 7;
    }
    this.#bytes.push(v);
    return this;
  }

  bytes(field: number, bytes: Uint8Array): this {
    this.varint((field << 3) | 2).varint(bytes.length);
    for (const byte of bytes) this.#bytes.push(byte);
    return this;
  }

  finish(): Buffer {
    return Buffer.from(this.#bytes);
  }
}

class Reader {
  #at = 0;
  constructor(readonly buffer: Buffer) {}

  get done(): boolean {
    return this.#at >= this.buffer.length;
  }

  varint(): number {
    let value = 0;
    for (let shift = 0; ; shift += 7) {
      if (this.#at >= this.buffer.length) throw new Error('grpc.health.v1: truncated varint');
      const byte = this.buffer[this.#at++]!;
      if (shift < 32) value |= (byte & 0x7f) << shift;
      if (byte < 0x80) return value >>> 0;
      if (shift > 63) throw new Error('grpc.health.v1: varint too long');
    }
  }

  bytes(): Buffer {
    const length = this.varint();
    const end = this.#at + length;
    if (end > this.buffer.length) throw new Error('grpc.health.v1: truncated field');
    const out = this.buffer.subarray(this.#at, end);
    this.#at = end;
    return out;
  }

  skip(wireType: number): void {
    if (wireType === 0) this.varint();
    else if (wireType === 1) this.#at += 8;
    else if (wireType === 2) this.bytes();
    else if (wireType === 5) this.#at += 4;
    else throw new Error(`grpc.health.v1: wire type ${wireType} is not supported`);
  }

  /** Calls `field` for each field number and wire type; the callback reads or skips it. */
  fields(field: (number: number, wireType: number) => void): void {
    while (!this.done) {
      const tag = this.varint();
      field(tag >>> 3, tag & 7);
    }
  }
}

const text = new TextEncoder();

function encodeRequest(request: HealthCheckRequest): Buffer {
  const writer = new Writer();
  if (request.service != null) writer.bytes(1, text.encode(request.service));
  return writer.finish();
}

function decodeRequest(buffer: Buffer): HealthCheckRequest {
  const reader = new Reader(buffer);
  let service = '';
  reader.fields((number, wireType) => {
    if (number === 1 && wireType === 2) service = reader.bytes().toString('utf8');
    else reader.skip(wireType);
  });
  return { service };
}

function encodeResponse(response: HealthCheckResponse): Buffer {
  const writer = new Writer();
  if (response.status != null) {
    const value = typeof response.status === 'number' ? response.status : STATUS_NAMES.indexOf(response.status);
    if (value < 0) throw new TypeError(`grpc.health.v1: "${String(response.status)}" is not a ServingStatus`);
    writer.varint(1 << 3).varint(value);
  }
  return writer.finish();
}

function decodeResponse(buffer: Buffer): HealthCheckResponse {
  const reader = new Reader(buffer);
  let value = 0;
  reader.fields((number, wireType) => {
    if (number === 1 && wireType === 0) value = reader.varint();
    else reader.skip(wireType);
  });
  // An enum value this version does not know stays a number, as protobuf.js gives it.
  return { status: STATUS_NAMES[value] ?? (value as unknown as Status) };
}

function encodeList(response: HealthListResponse): Buffer {
  const writer = new Writer();
  for (const [service, status] of Object.entries(response.statuses ?? {})) {
    const entry = new Writer().bytes(1, text.encode(service)).bytes(2, encodeResponse(status)).finish();
    writer.bytes(1, entry);
  }
  return writer.finish();
}

function decodeList(buffer: Buffer): HealthListResponse {
  const reader = new Reader(buffer);
  const statuses: Record<string, HealthCheckResponse> = {};
  reader.fields((number, wireType) => {
    if (number !== 1 || wireType !== 2) return reader.skip(wireType);
    const entry = new Reader(reader.bytes());
    let service = '';
    let status: HealthCheckResponse = { status: 'UNKNOWN' };
    entry.fields((n, w) => {
      if (n === 1 && w === 2) service = entry.bytes().toString('utf8');
      else if (n === 2 && w === 2) status = decodeResponse(entry.bytes());
      else entry.skip(w);
    });
    statuses[service] = status;
  });
  return { statuses };
}

function method<Request, Response>(
  name: string,
  responseStream: boolean,
  request: [(value: Request) => Buffer, (bytes: Buffer) => Request],
  response: [(value: Response) => Buffer, (bytes: Buffer) => Response],
): grpc.MethodDefinition<Request, Response> {
  return {
    path: `/${HEALTH_SERVICE_NAME}/${name}`,
    requestStream: false,
    responseStream,
    requestSerialize: request[0],
    requestDeserialize: request[1],
    responseSerialize: response[0],
    responseDeserialize: response[1],
    originalName: name.charAt(0).toLowerCase() + name.slice(1),
  };
}

const empty: [(value: Record<string, never>) => Buffer, (bytes: Buffer) => Record<string, never>] = [() => Buffer.alloc(0), () => ({})];

/** The grpc-js service definition of grpc.health.v1.Health. */
export const healthServiceDefinition: grpc.ServiceDefinition = {
  Check: method('Check', false, [encodeRequest, decodeRequest], [encodeResponse, decodeResponse]),
  List: method('List', false, empty, [encodeList, decodeList]),
  Watch: method('Watch', true, [encodeRequest, decodeRequest], [encodeResponse, decodeResponse]),
};

export type HealthClient = grpc.Client & {
  check(
    request: HealthCheckRequest,
    options: grpc.CallOptions,
    callback: (error: grpc.ServiceError | null, response?: HealthCheckResponse) => void,
  ): grpc.ClientUnaryCall;
  watch(request: HealthCheckRequest, options?: grpc.CallOptions): grpc.ClientReadableStream<HealthCheckResponse>;
  list(
    request: Record<string, never>,
    options: grpc.CallOptions,
    callback: (error: grpc.ServiceError | null, response?: HealthListResponse) => void,
  ): grpc.ClientUnaryCall;
};

/** A client constructor for grpc.health.v1.Health. */
export const HealthClient = grpc.makeClientConstructor(healthServiceDefinition, HEALTH_SERVICE_NAME) as unknown as new (
  address: string,
  credentials: grpc.ChannelCredentials,
  options?: grpc.ClientOptions,
) => HealthClient;
