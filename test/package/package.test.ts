// The package as a user gets it: `npm pack`, installed into a fresh app that has its own
// @grpc/grpc-js (another version than ours), type-checked as ESM and CommonJS TypeScript,
// run, and run again after esbuild bundled it. Needs the npm registry, as any install does.
import { execFile } from 'node:child_process';
import { cpSync, existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { expect } from 'chai';

const ROOT = fileURLToPath(new URL('../..', import.meta.url));
const FIXTURE = fileURLToPath(new URL('./fixture', import.meta.url));
/** The lowest grpc-js of the peer range, unlike the dev copy (1.14.7). */
const APP_GRPC_JS = '1.14.0';

const exec = promisify(execFile);

/** Runs a command; on failure the error carries its output. */
async function run(command: string, args: string[], cwd: string): Promise<string> {
  try {
    const { stdout } = await exec(command, args, { cwd, maxBuffer: 16 * 1024 * 1024, timeout: 180_000 });
    return stdout;
  } catch (error) {
    const { stdout = '', stderr = '' } = error as { stdout?: string; stderr?: string };
    throw new Error(`${command} ${args.join(' ')} failed in ${cwd}:\n${stdout}\n${stderr}`);
  }
}

/** The last line of a fixture app's output, which is its JSON report. */
function report(output: string): Record<string, unknown> {
  return JSON.parse(output.trim().split('\n').at(-1)!) as Record<string, unknown>;
}

/** Every version of `name` installed anywhere in `npm ls --all --json`'s tree. */
function versionsOf(tree: { dependencies?: Record<string, unknown> }, name: string, found = new Set<string>()): Set<string> {
  for (const [dependency, node] of Object.entries(tree.dependencies ?? {})) {
    const { version } = node as { version?: string };
    if (dependency === name && version) found.add(version);
    versionsOf(node as { dependencies?: Record<string, unknown> }, name, found);
  }
  return found;
}

describe('the packed package in a fresh app', function () {
  this.timeout(300_000);
  let app: string;
  let elsewhere: string;

  before(async () => {
    app = mkdtempSync(join(tmpdir(), 'meshlite-app-'));
    elsewhere = mkdtempSync(join(tmpdir(), 'meshlite-bundle-'));
    const [packed] = JSON.parse(await run('npm', ['pack', '--json', '--pack-destination', app], ROOT)) as Array<{ filename: string }>;
    cpSync(FIXTURE, app, { recursive: true, filter: (path) => !path.includes('node_modules') && !path.endsWith('/out') });
    writeFileSync(
      join(app, 'package.json'),
      JSON.stringify({
        name: 'fixture-app',
        private: true,
        dependencies: { '@grpc/grpc-js': APP_GRPC_JS, 'grpc-meshlite': `file:./${packed!.filename}` },
        devDependencies: { typescript: '5.9.3', '@types/node': '20.19.43', esbuild: '0.28.2' },
      }),
    );
    await run('npm', ['install', '--no-audit', '--no-fund', '--prefer-offline', '--loglevel=error'], app);
  });

  after(() => {
    for (const dir of [app, elsewhere]) if (dir) rmSync(dir, { recursive: true, force: true });
  });

  it("installs beside the app's own grpc-js: one copy, the app's", async () => {
    const tree = JSON.parse(await run('npm', ['ls', '--all', '--json'], app)) as { dependencies?: Record<string, unknown> };
    expect([...versionsOf(tree, '@grpc/grpc-js')]).to.deep.equal([APP_GRPC_JS]);
  });

  it("installs none of etcd's packages in an app that does not use etcd (etcd3 is an optional peer)", async () => {
    const tree = JSON.parse(await run('npm', ['ls', '--all', '--json'], app)) as { dependencies?: Record<string, unknown> };
    for (const name of ['etcd3', 'bignumber.js', 'cockatiel']) expect([...versionsOf(tree, name)], name).to.deep.equal([]);
  });

  it('ships what its source maps point at, and a LICENSE matching its license field', () => {
    const installed = join(app, 'node_modules', 'grpc-meshlite');
    const manifest = JSON.parse(readFileSync(join(installed, 'package.json'), 'utf8')) as { license: string; private?: boolean };
    expect(manifest.private).to.equal(undefined);
    expect(readFileSync(join(installed, 'LICENSE'), 'utf8'))
      .to.contain('Apache License')
      .and.contain('Version 2.0');
    expect(manifest.license).to.equal('Apache-2.0');
    const maps = readdirSync(installed, { recursive: true, encoding: 'utf8' }).filter((file) => file.endsWith('.map'));
    expect(maps.length).to.be.greaterThan(1);
    // A bundled dependency's files (zod's) are not shipped: their text is in the map itself.
    const missing = maps.flatMap((map) => {
      const { sources, sourcesContent = [] } = JSON.parse(readFileSync(join(installed, map), 'utf8')) as {
        sources: string[];
        sourcesContent?: (string | null)[];
      };
      return sources
        .filter((source, i) => !(source.includes('/node_modules/') && typeof sourcesContent[i] === 'string'))
        .map((source) => join(installed, dirname(map), source))
        .filter((source) => !existsSync(source));
    });
    expect(missing).to.deep.equal([]);
    const dangling = readdirSync(installed, { recursive: true, encoding: 'utf8' })
      .filter((file) => /\.(js|d\.ts)$/.test(file))
      .flatMap((file) => {
        const url = /\/\/# sourceMappingURL=(\S+)\s*$/.exec(readFileSync(join(installed, file), 'utf8'))?.[1];
        return url === undefined || existsSync(join(installed, dirname(file), url)) ? [] : [`${file} -> ${url}`];
      });
    expect(dangling).to.deep.equal([]);
  });

  it('type-checks an ESM and a CommonJS TypeScript app (module node16, no skipLibCheck)', async () => {
    await run('npx', ['tsc', '-p', '.'], app);
    expect(readdirSync(join(app, 'out')).sort()).to.include.members(['app.cjs', 'app.mjs', 'echo.mjs']);
  });

  it("ESM: fails over on the app's grpc-js with no failed call, and hands the server's status over unchanged", async () => {
    const result = report(await run('node', ['out/app.mjs'], app));
    expect(result).to.deep.equal({
      module: 'esm',
      grpcJs: APP_GRPC_JS,
      errors: 0,
      counted: 10,
      servedBy: ['A', 'B'],
      afterKill: ['B'],
      hedged: { servedBy: ['B'], metadataKept: true },
      missing: { code: 5, details: 'no such thing', attempts: 1 },
      noEtcd3: { code: 14, installHint: true },
    });
  });

  it('CommonJS: require() works (Node >= 20.19)', async () => {
    expect(report(await run('node', ['out/app.cjs'], app))).to.deep.equal({ module: 'cjs', servedBy: 'A' });
  });

  it('runs under --conditions=source (a condition name of its own, nothing that points at unshipped files)', async () => {
    expect(report(await run('node', ['--conditions=source', 'out/app.mjs'], app))).to.include({ errors: 0 });
  });

  it('bundled by esbuild, runs from a directory without node_modules (no file read at run time)', async () => {
    await run(
      'npx',
      [
        'esbuild',
        'out/app.mjs',
        '--bundle',
        '--platform=node',
        '--format=esm',
        `--outfile=${join(elsewhere, 'app.mjs')}`,
        '--log-level=warning',
        // grpc-js is CommonJS and requires Node's modules: an ESM bundle needs a require.
        "--banner:js=import { createRequire as bundleRequire } from 'node:module'; const require = bundleRequire(import.meta.url);",
      ],
      app,
    );
    expect(readdirSync(elsewhere)).to.deep.equal(['app.mjs']);
    expect(report(await run('node', ['app.mjs'], elsewhere))).to.include({ errors: 0, grpcJs: 'bundled' });
  });
});
