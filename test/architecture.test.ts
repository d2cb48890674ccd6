// The dependency rules of src/, read from the import statements themselves (type imports
// included: a type is a dependency too). A hand-written scan rather than madge or
// dependency-cruiser: both parse TypeScript through the compiler API, which TypeScript 7
// (the project's compiler) no longer ships.
import { readdirSync, readFileSync } from 'node:fs';
import { dirname, join, relative, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { expect } from 'chai';

const SRC = fileURLToPath(new URL('../src/', import.meta.url));

/** Every .ts file under src/, as a path relative to src/ ("balancer/picker.ts"). */
function sourceFiles(dir = SRC): string[] {
  return readdirSync(dir, { withFileTypes: true }).flatMap((entry) => {
    const path = join(dir, entry.name);
    if (entry.isDirectory()) return sourceFiles(path);
    return entry.name.endsWith('.ts') ? [relative(SRC, path)] : [];
  });
}

/** The src files `file` imports (static, re-exported or dynamic), resolved to src-relative paths. */
function importsOf(file: string): string[] {
  const text = readFileSync(join(SRC, file), 'utf8');
  const specifiers = [...text.matchAll(/(?:\bfrom\s*|\bimport\s*\(?\s*)['"](\.{1,2}\/[^'"]+)['"]/g)].map((m) => m[1]!);
  return specifiers.map((specifier) => relative(SRC, resolve(dirname(join(SRC, file)), specifier)).replace(/\.js$/, '.ts'));
}

const graph = new Map(sourceFiles().map((file) => [file, importsOf(file)]));

/** Cycles of a graph, each as the path that closes it. */
function cyclesOf(edges: ReadonlyMap<string, readonly string[]>): string[][] {
  const found: string[][] = [];
  const state = new Map<string, 'open' | 'done'>();
  const stack: string[] = [];
  const visit = (node: string) => {
    state.set(node, 'open');
    stack.push(node);
    for (const next of edges.get(node) ?? []) {
      if (state.get(next) === 'open') found.push([...stack.slice(stack.indexOf(next)), next]);
      else if (!state.has(next)) visit(next);
    }
    stack.pop();
    state.set(node, 'done');
  };
  for (const node of edges.keys()) if (!state.has(node)) visit(node);
  return found;
}

/** A file's folder ("balancer/picker.ts" → "balancer/"); a file at the root is a unit of its own. */
const folderOf = (file: string): string => (file.includes('/') ? `${file.slice(0, file.indexOf('/'))}/` : file);

/** The folder graph: an edge where a file of one folder imports a file of another. */
function folderGraph(): Map<string, string[]> {
  const edges = new Map<string, Set<string>>();
  for (const [file, imports] of graph) {
    const from = folderOf(file);
    const targets = edges.get(from) ?? edges.set(from, new Set()).get(from)!;
    for (const target of imports) if (folderOf(target) !== from) targets.add(folderOf(target));
  }
  return new Map([...edges].map(([folder, targets]) => [folder, [...targets]]));
}

/** Imports from files under `from` into files under `to`, as "a.ts → b.ts". */
function crossings(from: string, to: string): string[] {
  return [...graph].flatMap(([file, imports]) =>
    file.startsWith(from) ? imports.filter((target) => target.startsWith(to)).map((target) => `${file} → ${target}`) : [],
  );
}

/** The names an entry file exports (values and types), read from its `export { … }` lists. */
function exportedNames(file: string): string[] {
  const text = readFileSync(join(SRC, file), 'utf8');
  return [...text.matchAll(/export\s+(?:type\s+)?\{([^}]*)\}/g)].flatMap((m) =>
    m[1]!
      .split(',')
      .map((name) => name.trim())
      .filter(Boolean),
  );
}

describe('architecture of src/', () => {
  it('reads the import graph (the scan itself works)', () => {
    expect(graph.size).to.be.greaterThan(40);
    expect(graph.get('balancer/picker.ts')).to.include('call/routing-hint.ts');
    for (const [file, imports] of graph) {
      for (const target of imports) expect(graph.has(target), `${file} imports ${target}, which does not exist`).to.equal(true);
    }
  });

  it('has no import cycles, between files or between folders', () => {
    expect(cyclesOf(graph).map((cycle) => cycle.join(' → '))).to.deep.equal([]);
    expect(cyclesOf(folderGraph()).map((cycle) => cycle.join(' → '))).to.deep.equal([]);
  });

  it('keeps the schema helpers free of everything but errors.ts', () => {
    const imports = [...graph].flatMap(([file, targets]) => (file.startsWith('schema/') ? targets : []));
    expect(imports.filter((target) => !target.startsWith('schema/') && target !== 'errors.ts')).to.deep.equal([]);
  });

  it('writes schemas with zod/mini only: the build tree-shakes it into dist, while zod classic would bring its whole core', () => {
    const classic = sourceFiles().filter((file) => /from\s*['"]zod(?:\/v4)?['"]/.test(readFileSync(join(SRC, file), 'utf8')));
    expect(classic).to.deep.equal([]);
  });

  it('keeps the plug-ins grpc-js creates (resolver, balancer) free of the façade', () => {
    expect(crossings('balancer/', 'mesh/')).to.deep.equal([]);
    expect(crossings('resolver/', 'mesh/')).to.deep.equal([]);
  });

  it('keeps the server side and the balancer free of the client layers', () => {
    expect(crossings('server/', 'interceptors/')).to.deep.equal([]);
    expect(crossings('balancer/', 'interceptors/')).to.deep.equal([]);
    expect(crossings('health/', 'interceptors/')).to.deep.equal([]);
    expect(crossings('resolver/', 'interceptors/')).to.deep.equal([]);
  });

  it('keeps the shared call vocabulary free of either side', () => {
    for (const side of ['interceptors/', 'server/', 'balancer/', 'resolver/', 'mesh/', 'health/']) {
      expect(crossings('call/', side), side).to.deep.equal([]);
    }
  });

  it('keeps the public API at the root to what the README teaches: at most 60 names', () => {
    const names = exportedNames('index.ts');
    expect(names.length, names.join(', ')).to.be.at.most(60);
    // Nothing at the root is also in the layers subpath: each name has one home.
    const layers = exportedNames('layers/index.ts');
    expect(names.filter((name) => layers.includes(name))).to.deep.equal([]);
  });

  it('touches grpc-js interceptor machinery in the two adapters only', () => {
    const users = [...graph.keys()].filter((file) =>
      /\bInterceptingCall\b|ServerInterceptingCall\b|client-interceptors\.js|server-interceptors\.js/.test(
        readFileSync(join(SRC, file), 'utf8'),
      ),
    );
    expect(users.sort()).to.deep.equal(['interceptors/adapter.ts', 'interceptors/transport.ts', 'server/adapter.ts']);
  });
});
