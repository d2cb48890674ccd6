import { fileURLToPath } from 'node:url';
import { expect } from 'chai';
import { FileConfigSource } from '../../src/config/config-source.js';

describe('examples/mesh.json', () => {
  it('is a valid mesh config with ServiceA and ServiceB at 80/20', () => {
    const source = new FileConfigSource(fileURLToPath(new URL('../../examples/mesh.json', import.meta.url)), { watch: false });
    const orders = source.current().services['orders']!;
    expect(orders.endpoints.map((e) => [e.name, e.weight])).to.deep.equal([
      ['ServiceA', 80],
      ['ServiceB', 20],
    ]);
    expect(orders.client?.retry).to.have.property('maxAttempts', 3);
  });
});
