export * from './schemas.js';
export * from './routes.js';
export * from './client.js';
export * from './exec-socket.js';
export * from './socket-def.js';
export * from './stream-transport.js';
export * from './dashboard-sockets.js';
