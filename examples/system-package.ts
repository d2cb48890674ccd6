// Real components (etcd, Prometheus, Chromium) come from Debian packages. Whoever needs one finds its binary, or
// installs the package through apt when it can (root and apt-get present), or fails with one
// line saying what to install. Never a silent skip.
import { execFileSync } from 'node:child_process';
import { existsSync } from 'node:fs';

const installed = new Map<string, string>();

function which(binary: string): string | undefined {
  for (const dir of (process.env['PATH'] ?? '').split(':')) {
    if (dir && existsSync(`${dir}/${binary}`)) return `${dir}/${binary}`;
  }
  return undefined;
}

/** The path of `binary`, installing Debian's `pkg` first when it is missing and apt can. */
export function requireBinary(binary: string, pkg: string): string {
  const cached = installed.get(binary);
  if (cached) return cached;
  let path = which(binary);
  if (!path) {
    const canApt = process.getuid?.() === 0 && which('apt-get') !== undefined;
    if (!canApt) throw new Error(`${binary} is missing: install Debian's ${pkg} package (apt-get install ${pkg})`);
    const env = { ...process.env, DEBIAN_FRONTEND: 'noninteractive' };
    try {
      execFileSync('apt-get', ['install', '-y', '-qq', pkg], { env, stdio: 'pipe', timeout: 300_000 });
    } catch {
      execFileSync('apt-get', ['update', '-qq'], { env, stdio: 'pipe', timeout: 300_000 });
      execFileSync('apt-get', ['install', '-y', '-qq', pkg], { env, stdio: 'pipe', timeout: 300_000 });
    }
    path = which(binary);
    if (!path) throw new Error(`${binary} is still missing after apt-get install ${pkg}`);
  }
  installed.set(binary, path);
  return path;
}
