// A service's routes, compiled once per config version: which route a call takes (method and
// header matches, first match wins) and which destination subset it goes to (a smooth weighted
// split, exact over every round of picks, not a coin). The picker and the client's route
// layer read the same table.
import type { Metadata } from '@grpc/grpc-js';
import { RE2JS } from 're2js';
import type { ServiceConfig } from '../config/mesh-config.js';
import type { HeaderMatchConfig, RouteConfig } from '../config/traffic.js';
import { WeightedScheduler } from './scheduler.js';

/** One route of a service, ready to match calls and choose their destinations. */
export interface CompiledRoute {
  /** The route's name, or `route-<n>` (its place, from 0). */
  readonly name: string;
  readonly config: RouteConfig;
  /** The next call's destination subset (smooth weighted); undefined: the whole service. */
  chooseSubset(): string | undefined;
}

type HeaderTest = (metadata: Metadata) => boolean;

interface Entry {
  readonly route: CompiledRoute;
  /** "/pkg.Service/Method" exact, or "/pkg.Service/" as a prefix; undefined: any method. */
  readonly method: { readonly path: string; readonly prefix: boolean } | undefined;
  readonly headers: readonly HeaderTest[];
}

/** A service's routes in their order. `match` returns the first whose method and headers a call meets. */
export class RouteTable {
  readonly #entries: readonly Entry[];
  readonly routes: readonly CompiledRoute[];

  private constructor(entries: readonly Entry[]) {
    this.#entries = entries;
    this.routes = entries.map((entry) => entry.route);
  }

  /** The table of `service`'s routes, compiled once per config object; undefined without routes. */
  static of(service: Pick<ServiceConfig, 'routes'>): RouteTable | undefined {
    const routes = service.routes;
    if (routes === undefined || routes.length === 0) return undefined;
    let table = compiled.get(routes);
    if (table === undefined) compiled.set(routes, (table = new RouteTable(routes.map(compile))));
    return table;
  }

  /**
   * The route a call of `path` ("/pkg.Service/Method") with `metadata` takes, or undefined:
   * no route matches, and the call goes to the whole service as without routes.
   */
  match(path: string, metadata: Metadata): CompiledRoute | undefined {
    for (const entry of this.#entries) {
      const { method } = entry;
      if (method !== undefined && (method.prefix ? !path.startsWith(method.path) : path !== method.path)) continue;
      let all = true;
      for (const test of entry.headers) {
        if (!test(metadata)) {
          all = false;
          break;
        }
      }
      if (all) return entry.route;
    }
    return undefined;
  }
}

/** Compiled tables by the routes array they came from: a reload brings a new array, so a new table. */
const compiled = new WeakMap<readonly RouteConfig[], RouteTable>();

function compile(config: RouteConfig, index: number): Entry {
  const name = config.name ?? `route-${index}`;
  const weighted = (config.destinations ?? []).filter((destination) => destination.weight > 0);
  const scheduler =
    weighted.length === 0 ? undefined : new WeightedScheduler(weighted.map(({ subset, weight }) => ({ item: subset, weight })));
  const method = config.match?.method;
  return {
    route: { name, config, chooseSubset: () => scheduler?.pick() },
    method:
      method === undefined
        ? undefined
        : method.includes('/')
          ? { path: `/${method}`, prefix: false }
          : { path: `/${method}/`, prefix: true },
    headers: (config.match?.headers ?? []).map(headerTest),
  };
}

/** A header match as a test of a call's metadata; several values of one header are read joined by ",", as Envoy does. */
function headerTest(match: HeaderMatchConfig): HeaderTest {
  const value = (metadata: Metadata): string | undefined => {
    const values = metadata.get(match.name);
    return values.length === 0 ? undefined : values.map(String).join(',');
  };
  if ('exact' in match) return (metadata) => value(metadata) === match.exact;
  if ('prefix' in match) return (metadata) => value(metadata)?.startsWith(match.prefix) ?? false;
  if ('regex' in match) {
    // RE2 matches in time linear in the input, whatever the pattern: a header cannot stall the pick.
    const pattern = RE2JS.compile(match.regex);
    return (metadata) => {
      const text = value(metadata);
      return text !== undefined && pattern.matches(text);
    };
  }
  if ('present' in match) return (metadata) => metadata.get(match.name).length > 0;
  return (metadata) => metadata.get(match.name).length === 0;
}
