/** Which kind of method a call is; retries and hedging apply to unary and server streaming only. */
export type MethodKind = 'unary' | 'server_stream' | 'client_stream' | 'bidi_stream';

/** A gRPC method as both sides of the toolkit see it, worked out once per path. */
export interface MethodInfo {
  /** "/orders.v1.OrderService/GetOrder" */
  readonly path: string;
  /** "orders.v1.OrderService" */
  readonly service: string;
  /** "GetOrder" */
  readonly name: string;
  readonly kind: MethodKind;
}

/**
 * A method as logs, metrics and breaker keys write it: "orders.v1.OrderService/GetOrder" (A66's
 * `grpc.method`, the path without its leading slash).
 *
 * @example
 *   fullMethodName('/orders.v1.OrderService/GetOrder') // 'orders.v1.OrderService/GetOrder'
 */
export function fullMethodName(path: string): string {
  return path.startsWith('/') ? path.slice(1) : path;
}

/**
 * The MethodInfo of a method path and its streaming flags, as grpc-js describes a method.
 *
 * @example
 *   describeMethod('/orders.v1.OrderService/ListOrders', false, true).kind // 'server_stream'
 */
export function describeMethod(path: string, requestStream = false, responseStream = false): MethodInfo {
  const slash = path.lastIndexOf('/');
  const kind: MethodKind = requestStream ? (responseStream ? 'bidi_stream' : 'client_stream') : responseStream ? 'server_stream' : 'unary';
  return { path, service: path.slice(1, slash), name: path.slice(slash + 1), kind };
}

/** A per-path cache of MethodInfo: these objects live as long as the client or server. */
export function methodCache(): (path: string, requestStream: boolean, responseStream: boolean) => MethodInfo {
  const methods = new Map<string, MethodInfo>();
  return (path, requestStream, responseStream) => {
    let method = methods.get(path);
    if (!method) {
      method = describeMethod(path, requestStream, responseStream);
      methods.set(path, method);
    }
    return method;
  };
}
