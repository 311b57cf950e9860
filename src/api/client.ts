import { routes } from './routes.js';
import { RouteClient, type ClientOptions } from './route-client.js';

export { DEFAULT_TIMEOUT_MS, errorFrom, unreachable, type CallArgs, type CallOptions, type ClientOptions, type FetchArgs, type RoutePaths } from './route-client.js';

/** The typed API client over the full route table (see RouteClient). */
export class ApiClient extends RouteClient {
  constructor(baseUrl: string, options: ClientOptions = {}) {
    super(baseUrl, options, routes);
  }
}
