import cookie from '@fastify/cookie';
import swagger from '@fastify/swagger';
import websocket from '@fastify/websocket';
import Fastify, { LogController, type FastifyBaseLogger, type FastifyInstance } from 'fastify';
import type { DaemonContext } from '../context.js';
import { errorBody, errorHandler } from './errors.js';
import { execHandlers } from './handlers/exec-handlers.js';
import { imageTransferHandlers } from './handlers/image-transfer-handlers.js';
import { registryHandlers } from './handlers/registry-handlers.js';
import { rentHandlers } from './handlers/rent-handlers.js';
import { imageHandlers } from './handlers/image-handlers.js';
import { fileHandlers } from './handlers/file-handlers.js';
import { hostHandlers } from './handlers/host-handlers.js';
import { fleetHandlers } from './handlers/fleet-handlers.js';
import { installForwarding } from './forward-to-agent.js';
import { logHandlers } from './handlers/log-handlers.js';
import { sandboxHandlers } from './handlers/sandbox-handlers.js';
import { snapshotHandlers } from './handlers/snapshot-handlers.js';
import { userHandlers } from './handlers/user-handlers.js';
import { thermalHandlers } from './handlers/thermal-handlers.js';
import { registerPreviewProxy } from './preview-proxy.js';
import { installAuth } from './auth.js';
import { registerRoutes } from './register-routes.js';
import { sessionHandlers } from './handlers/session-handlers.js';
import { dashboardHandlers } from './handlers/dashboard-handlers.js';
import { registerWebApp } from './web-app.js';
import { completeOpenApi } from './openapi-complete.js';
import { closeWithSession } from './session-sockets.js';
import { validatorCompiler } from './validation.js';

/** The HTTP API: the route table, its handlers, the OpenAPI document; and the web dashboard when webDir is given. */
export async function buildApp(ctx: DaemonContext, previewDomain: string, webDir?: string): Promise<FastifyInstance> {
  // Typed as Fastify's logger, so the app is a plain FastifyInstance and not one generic over pino's.
  const logger: FastifyBaseLogger = ctx.log;
  const app = Fastify({
    loggerInstance: logger,
    // Requests are logged once, by our onResponse hook, with their duration.
    logController: new LogController({ disableRequestLogging: true }),
    bodyLimit: 32 * 1024 * 1024,
  });
  app.setValidatorCompiler(validatorCompiler());
  app.setErrorHandler(errorHandler);
  app.setNotFoundHandler((req, reply) => {
    void reply.code(404).send(errorBody('NOT_FOUND', `no route ${req.method} ${req.url.split('?')[0]}; see /api/v1/openapi.json`));
  });
  // Image uploads arrive as a raw stream; the handler pipes it to disk.
  app.addContentTypeParser(['application/octet-stream', 'application/x-tar'], (_req, payload, done) => done(null, payload));

  await app.register(swagger, {
    openapi: {
      info: { title: 'bothub', version: ctx.version, description: 'Stateful sandboxes for AI agents.' },
      components: { securitySchemes: { bearer: { type: 'http', scheme: 'bearer' } } },
    },
  });
  await app.register(websocket, { options: { maxPayload: 16 * 1024 * 1024 } });

  await app.register(cookie);
  const sessions = ctx.webSessions;
  const limiter = installAuth(app, ctx.users, sessions, ctx.authMaxFailures, ctx.authFailureDelayMs);
  app.addHook('onResponse', async (req, reply) => {
    req.log.debug({ method: req.method, url: req.url, status: reply.statusCode, ms: Math.round(reply.elapsedTime * 100) / 100 }, 'request');
  });

  installForwarding(app, ctx);
  registerRoutes(app, {
    health: async () => ({ status: 'ok' as const, version: ctx.version }),
    ...sandboxHandlers(ctx),
    ...execHandlers(ctx),
    ...logHandlers(ctx),
    ...fileHandlers(ctx),
    ...hostHandlers(ctx),
    ...fleetHandlers(ctx),
    ...imageHandlers(ctx),
    ...imageTransferHandlers(ctx),
    ...registryHandlers(ctx),
    ...rentHandlers(ctx),
    ...snapshotHandlers(ctx),
    ...userHandlers(ctx),
    ...thermalHandlers(ctx),
    ...sessionHandlers(ctx, sessions, limiter),
    ...dashboardHandlers(ctx, ctx.stats),
  }, { onSocket: (ws, req) => closeWithSession(ws, req, sessions) });
  await registerPreviewProxy(app, ctx, previewDomain);
  if (webDir) await registerWebApp(app, webDir);
  app.get('/api/v1/openapi.json', { schema: { hide: true }, config: { auth: 'none' } }, async () => completeOpenApi(app.swagger()));
  return app;
}
