export { bothubMcpServer, allTools } from './server.js';
export { registerMcpRoute, type McpRouteOptions } from './http.js';
