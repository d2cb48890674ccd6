// A backend that listens on N ports of 127.0.0.1 at once (one grpc-js server per port, in one
// process): N endpoints for the scaling run without N processes. Serves GetOrder, answering
// with served_by "e<i>" for the i-th port (the mesh config's endpoint names), and
// grpc.health.v1. Prints its ports as one JSON line on stdout, then runs until killed.
import * as grpc from '@grpc/grpc-js';
import { HealthService, HealthState } from 'grpc-meshlite';
import { orderServiceDefinition, type Order } from '../examples/orders.js';

const count = Number(process.argv[2] ?? '2');
const health = new HealthState({ '': 'SERVING', 'orders.v1.OrderService': 'SERVING' });
const ports: number[] = [];
for (let i = 0; i < count; i++) {
  // A server per port: a handler cannot tell which port a call came in on.
  const server = new grpc.Server();
  server.addService(orderServiceDefinition, {
    GetOrder: (call: grpc.ServerUnaryCall<{ id: string }, Order>, callback: grpc.sendUnaryData<Order>) =>
      callback(null, {
        id: call.request.id,
        item: 'book',
        quantity: 1,
        idempotency_key: '',
        created_by: '',
        created_at_ms: '0',
        served_by: `e${i}`,
      }),
  });
  new HealthService(health).addTo(server);
  ports.push(
    await new Promise<number>((resolve, reject) =>
      server.bindAsync('127.0.0.1:0', grpc.ServerCredentials.createInsecure(), (error, port) => (error ? reject(error) : resolve(port))),
    ),
  );
}
process.stdout.write(`${JSON.stringify(ports)}\n`);
