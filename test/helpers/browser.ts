// A real headless Chromium (Debian's chromium package), driven by playwright-core (which
// downloads no browser). Closed by the pool.
import { chromium, type Browser } from 'playwright-core';
import { requireBinary } from '../../examples/system-package.js';
import type { TestPool } from './servers.js';

export async function launchChromium(pool: TestPool): Promise<Browser> {
  const executablePath = requireBinary('chromium', 'chromium');
  // --no-sandbox: Chromium refuses to sandbox itself when it runs as root, as in CI containers.
  const browser = await chromium.launch({ executablePath, args: ['--no-sandbox', '--disable-gpu'] });
  pool.defer(() => browser.close());
  return browser;
}
