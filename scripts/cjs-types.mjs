// Typings for CommonJS TypeScript apps. The package is ESM, which Node >= 20.19 lets a
// CommonJS app require(); but TypeScript with `module: node16` refuses to type a require()
// of an ESM file (TS1479). The same declarations, copied under a package.json that says
// "commonjs", are what the exports map's "require" condition points TypeScript at.
import { mkdirSync, readdirSync, copyFileSync, writeFileSync, rmSync } from 'node:fs';
import { dirname, join, relative } from 'node:path';

const from = 'dist';
const to = join('dist', 'cjs');
rmSync(to, { recursive: true, force: true });
for (const entry of readdirSync(from, { recursive: true, withFileTypes: true })) {
  if (!entry.isFile() || !entry.name.endsWith('.d.ts')) continue;
  const source = join(entry.parentPath, entry.name);
  const target = join(to, relative(from, source));
  mkdirSync(dirname(target), { recursive: true });
  copyFileSync(source, target);
}
writeFileSync(join(to, 'package.json'), '{ "type": "commonjs" }\n');
