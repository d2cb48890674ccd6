// grpc-meshlite/nice-grpc: the client layers for nice-grpc clients (needs nice-grpc-common).
export { meshMiddleware } from './middleware.js';
export type { LayeredStack, MeshCallOptions } from './middleware.js';
