// Throwaway certificates for a test (examples/tls-certs.ts), removed by the test pool.
import { createTestCa, type TestCa } from '../../examples/tls-certs.js';
import type { TestPool } from './servers.js';

export type { CertFiles, TestCa } from '../../examples/tls-certs.js';

export function testCa(pool: TestPool): TestCa {
  const ca = createTestCa();
  pool.defer(() => ca.dispose());
  return ca;
}
