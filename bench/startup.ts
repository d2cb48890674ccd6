// npm run bench:startup — what `import 'grpc-meshlite'` costs a process, against grpc-js alone
// and grpc-js with proto-loader (what most grpc-js apps load anyway). Each import is timed in
// a fresh Node process; the three are interleaved, round after round; medians with [min–max].
//
//   npm run bench:startup
//   npm run bench:startup -- --rounds 30
import { execFileSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';

const ROOT = fileURLToPath(new URL('..', import.meta.url));

const VARIANTS: Record<string, string[]> = {
  'grpc-js': ['@grpc/grpc-js'],
  'grpc-js + proto-loader': ['@grpc/grpc-js', '@grpc/proto-loader'],
  'grpc-meshlite (dist; loads grpc-js, pino, re2js, opossum, lru-cache; bundles zod/mini and the OpenTelemetry API)': ['./dist/index.js'],
  'zod from node_modules (not loaded: dist bundles the zod/mini parts it uses)': ['zod/mini'],
};

/** Milliseconds a fresh process takes to import `modules`, one after another. */
function importMs(modules: string[]): number {
  const script = `const t = performance.now(); for (const m of ${JSON.stringify(modules)}) await import(m); console.log(performance.now() - t);`;
  return Number(execFileSync(process.execPath, ['--input-type=module', '-e', script], { cwd: ROOT, encoding: 'utf8' }).trim());
}

function main(): void {
  const { values } = parseArgs({ options: { rounds: { type: 'string', default: '15' } } });
  const rounds = Number(values.rounds);
  if (!Number.isInteger(rounds) || rounds < 1 || rounds > 100) throw new Error(`--rounds must be an integer 1-100, got "${values.rounds}"`);
  const times: Record<string, number[]> = Object.fromEntries(Object.keys(VARIANTS).map((name) => [name, []]));
  for (let round = 0; round < rounds; round++) {
    const names = Object.keys(VARIANTS);
    // Rotate the order, so no variant always runs first.
    for (let i = 0; i < names.length; i++) {
      const name = names[(i + round) % names.length]!;
      times[name]!.push(importMs(VARIANTS[name]!));
    }
  }
  console.log(`Import time in a fresh process, ${rounds} interleaved rounds, Node ${process.version}: median [min–max]\n`);
  console.log('| imports | ms |\n| --- | --- |');
  for (const [name, samples] of Object.entries(times)) {
    const sorted = [...samples].sort((a, b) => a - b);
    const median = sorted[Math.floor(sorted.length / 2)]!;
    console.log(`| ${name} | ${median.toFixed(0)} [${sorted[0]!.toFixed(0)}–${sorted.at(-1)!.toFixed(0)}] |`);
  }
}

main();
