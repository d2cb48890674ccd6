// etcd's gRPC naming values as Go writes and reads them: what Go's endpoints.Manager and common
// registrars put under a prefix, read as leniently as Go's encoding/json reads them where the
// meaning is clear, and skipped with the key and the reason where it is not.
import { expect } from 'chai';
import { encodeEtcdEndpoint, parseEtcdEndpoint } from 'grpc-meshlite/layers';

const PREFIX = 'services/orders';
const parse = (value: string, id = 'a') => parseEtcdEndpoint(PREFIX, `${PREFIX}/${id}`, value);

describe("etcd's gRPC naming format", () => {
  it("reads what Go's endpoints.Manager writes, and writes it byte for byte", () => {
    const value = '{"Op":0,"Addr":"10.0.0.7:50051","Metadata":{"name":"ServiceA","priority":1,"weight":80,"zone":"a"}}';
    const endpoint = parse(value);
    expect(endpoint).to.deep.equal({ name: 'ServiceA', address: '10.0.0.7:50051', weight: 80, priority: 1, labels: { zone: 'a' } });
    expect(encodeEtcdEndpoint(endpoint as Exclude<typeof endpoint, string>)).to.equal(value);
    expect(parse('{"Op":0,"Addr":"10.0.0.7:50051","Metadata":null}')).to.deep.equal({
      name: 'a',
      address: '10.0.0.7:50051',
      weight: 1,
      priority: 0,
    });
  });

  it('reads and writes labels (subsets select on them), the zone among them', () => {
    const value =
      '{"Op":0,"Addr":"10.0.0.7:50051","Metadata":{"labels":{"track":"canary","version":"v2"},"name":"B","priority":0,"weight":1,"zone":"eu-1a"}}';
    const endpoint = parse(value);
    expect(endpoint).to.deep.equal({
      name: 'B',
      address: '10.0.0.7:50051',
      weight: 1,
      priority: 0,
      labels: { track: 'canary', version: 'v2', zone: 'eu-1a' },
    });
    expect(encodeEtcdEndpoint(endpoint as Exclude<typeof endpoint, string>)).to.equal(value);
    expect(parse('{"Addr":"10.0.0.7:50051","Metadata":{"labels":{"build":7}}}')).to.have.deep.property('labels', { build: '7' });
    expect(parse('{"Addr":"10.0.0.7:50051","Metadata":{"labels":{"bad key!":"x"}}}')).to.match(
      /^key "services\/orders\/a": Metadata\.labels/,
    );
  });

  it("matches field names case-insensitively, as Go's encoding/json does", () => {
    expect(parse('{"op":0,"addr":"10.0.0.7:50051","metadata":{"name":"ServiceA","weight":2}}')).to.deep.equal({
      name: 'ServiceA',
      address: '10.0.0.7:50051',
      weight: 2,
      priority: 0,
    });
    // Metadata a Go struct without json tags marshals: exported, capitalised field names.
    expect(parse('{"Addr":"10.0.0.7:50051","Metadata":{"Name":"ServiceA","Weight":3,"Priority":1,"Zone":"z"}}')).to.deep.equal({
      name: 'ServiceA',
      address: '10.0.0.7:50051',
      weight: 3,
      priority: 1,
      labels: { zone: 'z' },
    });
    // Go takes the last of two spellings of one field.
    expect(parse('{"Addr":"10.0.0.7:1","addr":"10.0.0.7:2"}')).to.have.property('address', '10.0.0.7:2');
  });

  it('takes a number where a string is meant and a numeric string where a number is', () => {
    expect(parse('{"Op":0,"Addr":"10.0.0.7:50051","Metadata":{"zone":1,"name":7,"weight":"5","priority":"2"}}')).to.deep.equal({
      name: '7',
      address: '10.0.0.7:50051',
      weight: 5,
      priority: 2,
      labels: { zone: '1' },
    });
    expect(parse('{"Addr":"10.0.0.7:50051","Metadata":{"weight":" 0.5 ","zone":null}}')).to.deep.equal({
      name: 'a',
      address: '10.0.0.7:50051',
      weight: 0.5,
      priority: 0,
    });
  });

  it('takes a bare "host:port" value, as go-zero and other registrars write it', () => {
    expect(parse('10.0.0.7:50051')).to.deep.equal({ name: 'a', address: '10.0.0.7:50051', weight: 1, priority: 0 });
    expect(parse('"orders-a.internal:50051"')).to.deep.equal({ name: 'a', address: 'orders-a.internal:50051', weight: 1, priority: 0 });
  });

  it('skips what has no clear meaning, naming the key, the field and why', () => {
    // grpc-go's etcd resolver dials Addr as written: without a port no client can reach it.
    expect(parse('{"Op":0,"Addr":"10.0.0.7","Metadata":null}')).to.equal(
      'key "services/orders/a": Addr "10.0.0.7" has no port (grpc-go\'s etcd resolver dials Addr as written, so no client can reach it): write "10.0.0.7:<port>"',
    );
    expect(parse('{"Addr":"orders-a.internal"}')).to.contain('Addr "orders-a.internal" has no port');
    expect(parse('{"Addr":"::1"}')).to.contain('Addr "::1" has no port').and.contain('write "[::1]:<port>"');
    expect(parse('{"Addr":"[::1]"}')).to.contain('Addr "[::1]" has no port').and.contain('write "[::1]:<port>"');
    expect(parse('{"Op":0,"Addr":"10.0.0.7:50051","Metadata":{"weight":"heavy"}}')).to.equal(
      'key "services/orders/a": Metadata.weight: expected number, got "heavy"',
    );
    expect(parse('{"Op":0,"Addr":"10.0.0.7:50051","Metadata":{"zone":true}}')).to.equal(
      'key "services/orders/a": Metadata.zone: expected string, got true',
    );
    expect(parse('{"Op":0,"Addr":"10.0.0.7:50051","Metadata":{"priority":"1.5"}}')).to.contain('Metadata.priority');
    expect(parse('{"Op":0,"Addr":"10.0.0.7:50051","Metadata":{"weight":""}}')).to.contain('Metadata.weight: expected number, got ""');
    expect(parse('{"Op":0,"Addr":5}')).to.equal('key "services/orders/a": Addr must be "host:port", got 5');
    expect(parse('not json')).to.match(/^key "services\/orders\/a": value is not JSON/);
  });
});
