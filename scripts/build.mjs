// The package's code: the four entry points bundled by esbuild into dist/ as ESM with shared
// chunks and source maps. Every dependency stays an import of its own package, but those in
// BUNDLED, whose packages stay dependencies because the declarations name their types:
// - zod: zod/mini is built to be tree-shaken; loaded from node_modules it brings all of zod's
//   core (about 80 ms of an import, against about 10 for the parts the schemas use, bundled);
// - @opentelemetry/api: about 40 ES modules, 25 ms of an import, of which the mesh uses 11 KB.
//   A bundled copy works as a nested one does: every copy of the API meets the app's through
//   globalThis (the registered providers, the context manager, the propagator).
import { readFileSync, rmSync } from 'node:fs';
import { build } from 'esbuild';

const BUNDLED = new Set(['zod', '@opentelemetry/api']);

const manifest = JSON.parse(readFileSync('package.json', 'utf8'));
const declared = [...Object.keys(manifest.dependencies ?? {}), ...Object.keys(manifest.peerDependencies ?? {})];
const external = declared.filter((name) => !BUNDLED.has(name)).flatMap((name) => [name, `${name}/*`]);

rmSync('dist', { recursive: true, force: true });
const { metafile } = await build({
  entryPoints: {
    index: 'src/index.ts',
    layers: 'src/layers/index.ts',
    'nice-grpc': 'src/nice-grpc/index.ts',
    prometheus: 'src/prometheus/index.ts',
  },
  bundle: true,
  splitting: true,
  format: 'esm',
  platform: 'node',
  target: 'node20',
  external,
  sourcemap: true,
  metafile: true,
  logLevel: 'warning',
  outdir: 'dist',
  chunkNames: 'chunks/[name]-[hash]',
});

// A package the code imports that is neither declared nor meant to be bundled (a dev
// dependency, say) would be copied in without a word: refuse it.
const strays = new Set(
  Object.keys(metafile.inputs)
    .map((input) => /(?:^|\/)node_modules\/((?:@[^/]+\/)?[^/]+)/.exec(input)?.[1])
    .filter((name) => name !== undefined && !BUNDLED.has(name)),
);
if (strays.size > 0) {
  console.error(`build: dist/ would bundle ${[...strays].join(', ')}: declare it (dependencies or peerDependencies) or add it to BUNDLED`);
  process.exit(1);
}
