import { routes } from './routes.js';
import { RouteClient, type ClientOptions } from './route-client.js';

export { errorFrom, unreachable, type CallArgs, type ClientOptions, type RoutePaths } from './route-client.js';

/** The typed API client over the full route table (see RouteClient). */
export class ApiClient extends RouteClient {
  constructor(baseUrl: string, options: ClientOptions = {}) {
    super(baseUrl, options, routes);
  }
}
