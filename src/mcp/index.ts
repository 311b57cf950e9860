export { bothubMcpServer, allTools } from './server.js';
export { mcpOriginHosts, registerMcpRoute, type McpRouteOptions } from './http.js';
