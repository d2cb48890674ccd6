// Typings for CommonJS TypeScript apps. The package is ESM, which Node >= 20.19 lets a
// CommonJS app require(); but TypeScript with `module: node16` refuses to type a require()
// of an ESM file (TS1479). The same declarations, copied under a package.json that says
// "commonjs", are what the exports map's "require" condition points TypeScript at.
import { mkdirSync, readdirSync, copyFileSync, readFileSync, writeFileSync, rmSync } from 'node:fs';
import { dirname, join, relative, resolve } from 'node:path';

const from = 'dist';
const to = join('dist', 'cjs');
rmSync(to, { recursive: true, force: true });
for (const entry of readdirSync(from, { recursive: true, withFileTypes: true })) {
  if (!entry.isFile() || !(entry.name.endsWith('.d.ts') || entry.name.endsWith('.d.ts.map'))) continue;
  const source = join(entry.parentPath, entry.name);
  const target = join(to, relative(from, source));
  mkdirSync(dirname(target), { recursive: true });
  if (entry.name.endsWith('.d.ts')) {
    copyFileSync(source, target);
  } else {
    // Declaration maps name the .ts sources relative to themselves: one directory deeper now.
    const map = JSON.parse(readFileSync(source, 'utf8'));
    map.sources = map.sources.map((file) => relative(dirname(target), resolve(dirname(source), file)));
    writeFileSync(target, JSON.stringify(map));
  }
}
writeFileSync(join(to, 'package.json'), '{ "type": "commonjs" }\n');
