// How a user's grpc-js client options meet the mesh's client stack. grpc-js runs a client's
// interceptors first to last (the first sees the call as the caller made it), and call-level
// interceptors *replace* the client's; the mesh's stack must stay on every call all the same.
import type { CallOptions, CallProperties, ClientOptions, Interceptor } from '@grpc/grpc-js';
import { INNERMOST, type InnermostMark } from '../interceptors/adapter.js';

/**
 * The user's client options with the stack's interceptors added innermost: the user's own
 * interceptors (or interceptor providers) run first, once per call, as the caller sees it
 * (an auth interceptor adds its header once; every retry and hedge re-sends it). A call made
 * with its own `interceptors` / `interceptor_providers` call option keeps the stack too: it
 * replaces the user's client-level interceptors, as in grpc-js, but not the mesh's. The
 * user's own `callInvocationTransformer` runs first.
 */
export function withStack(user: ClientOptions = {}, stack: readonly Interceptor[]): ClientOptions {
  const providers = user.interceptor_providers;
  const transform = user.callInvocationTransformer;
  const options: ClientOptions = { ...user };
  if (providers?.length && !user.interceptors?.length) {
    // grpc-js refuses a client with both interceptors and providers: the stack joins as providers.
    options.interceptor_providers = [...providers, ...stack.map((interceptor) => () => interceptor)];
  } else {
    options.interceptors = [...(user.interceptors ?? []), ...stack];
  }
  const clientLevel = options.interceptors;
  const interceptor = stack.at(-1);
  let mark: InnermostMark | undefined;
  const marked = new MarkedDefinitions();
  options.callInvocationTransformer = (properties: CallProperties<unknown, unknown>) => {
    const given = withCallStack(transform ? transform(properties) : properties, stack);
    const chain = interceptorChain(given.callOptions, clientLevel);
    if (interceptor === undefined || chain === undefined || chain.indexOf(interceptor) !== chain.length - 1) return given;
    if (mark?.channel !== given.channel) mark = { interceptor, channel: given.channel };
    // The call's properties are grpc-js's own, made for this call; its options may be the
    // caller's: the mark rides in a copy of the method definition, which grpc-js hands the
    // interceptors (their `method_definition`). One copy serves all of a method's calls unless
    // an interceptor of the user's sees it (it may change the definition it is given, for its
    // own call) or the definition is a user's transformer's.
    const shared = transform === undefined && chain.length === stack.length;
    given.methodDefinition = shared ? marked.of(given.methodDefinition, mark) : markedCopy(given.methodDefinition, mark);
    return given;
  };
  return options;
}

type MethodDefinition = CallProperties<unknown, unknown>['methodDefinition'];
type Marked = MethodDefinition & { readonly [INNERMOST]: InnermostMark };

/**
 * The marked copies of a client's method definitions, one per method: grpc-js makes a
 * definition per call with the same fields (path, stream flags, the method's serializers), so a
 * copy made once serves every call of the method — instead of a copy of the caller's call
 * options per call (where the mark used to ride). A definition that differs in one of those (a
 * user's own makeUnaryRequest with other serializers) gets a copy of its own.
 */
class MarkedDefinitions {
  /** Bounded: a client used on arbitrary paths (makeUnaryRequest) does not grow it without end. */
  static readonly #MAX = 1000;
  readonly #byPath = new Map<string, Marked>();

  of(definition: MethodDefinition, mark: InnermostMark): Marked {
    const known = this.#byPath.get(definition.path);
    if (
      known !== undefined &&
      known[INNERMOST] === mark &&
      known.requestSerialize === definition.requestSerialize &&
      known.responseDeserialize === definition.responseDeserialize &&
      known.requestStream === definition.requestStream &&
      known.responseStream === definition.responseStream
    )
      return known;
    const copy = markedCopy(definition, mark);
    if (this.#byPath.size >= MarkedDefinitions.#MAX) this.#byPath.clear();
    this.#byPath.set(definition.path, copy);
    return copy;
  }
}

/** `definition` with the mark: every field it has, the key first (see withKey). */
function markedCopy(definition: MethodDefinition, mark: InnermostMark): Marked {
  return Object.hasOwn(definition, INNERMOST) ? { ...definition, [INNERMOST]: mark } : { [INNERMOST]: mark, ...definition };
}

/**
 * A call's interceptors as grpc-js chooses them (call-level ones replace the client's), when
 * they are interceptors: the stack's interceptor may send its attempts straight to the call's
 * channel only as the last of them (see InnermostMark), and the call is marked for it then.
 * Any other arrangement (providers, the interceptor used twice or followed by another) leaves
 * the call unmarked, and its attempts go on through grpc-js.
 */
function interceptorChain(callOptions: CallOptions, clientLevel: readonly Interceptor[] | undefined): readonly Interceptor[] | undefined {
  const { interceptors: callLevel, interceptor_providers: callProviders } = callOptions;
  return callLevel?.length || callProviders?.length ? (callProviders?.length ? undefined : callLevel) : clientLevel;
}

function withCallStack(properties: CallProperties<unknown, unknown>, stack: readonly Interceptor[]): CallProperties<unknown, unknown> {
  const { interceptors, interceptor_providers: providers } = properties.callOptions;
  if (interceptors?.length && providers?.length) return properties; // grpc-js refuses the call, as without the mesh
  if (interceptors?.length) {
    return { ...properties, callOptions: { ...properties.callOptions, interceptors: [...interceptors, ...stack] } };
  }
  if (providers?.length) {
    const joined = [...providers, ...stack.map((interceptor) => () => interceptor)];
    return { ...properties, callOptions: { ...properties.callOptions, interceptor_providers: joined } };
  }
  return properties;
}
