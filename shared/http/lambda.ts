import type { APIGatewayProxyEventV2, APIGatewayProxyStructuredResultV2, Context } from 'aws-lambda';
import { loadConfig } from '../config.ts';
import { createLogger } from '../telemetry/logger.ts';
import { currentTracing, TRACING_SHUTDOWN_MS } from '../telemetry/tracing.ts';
import { buildApp, type FunctionDefinition } from './app.ts';
import { settleBackground } from './background.ts';
import { type AppContext, createContext } from './context.ts';

export type LambdaHandler = (
  event: APIGatewayProxyEventV2,
  context: Context,
) => Promise<APIGatewayProxyStructuredResultV2>;

/**
 * The same app behind API Gateway (HTTP API, payload v2) through @fastify/aws-lambda. Built on the first
 * invocation and kept for the life of the execution environment; nothing is loaded when the bundle runs as a
 * server instead.
 */
export function lambdaHandler(definition: FunctionDefinition): LambdaHandler {
  let proxy: Promise<LambdaHandler> | undefined;
  let ctx: AppContext | undefined;
  const build = async (): Promise<LambdaHandler> => {
    const { default: awsLambdaFastify } = await import('@fastify/aws-lambda');
    const config = loadConfig();
    const log = createLogger(definition.name, config.logLevel);
    ctx = createContext(definition.name, config, log);
    const app = await buildApp([definition], ctx);
    await app.ready();
    return awsLambdaFastify(app, { decorateRequest: false }) as unknown as LambdaHandler;
  };
  return async (event, context) => {
    proxy ??= build().catch((error: unknown) => {
      proxy = undefined;
      throw error;
    });
    const response = await (await proxy)(event, context);
    // What the request left to run after its response (a recovery's mail) must finish before the freeze.
    if (ctx) await settleBackground(ctx);
    // Lambda freezes the environment once the handler returns: spans still buffered would wait for the next
    // invocation, or be lost with the environment. Sent now (bounded), when tracing is on.
    await currentTracing()?.flush(TRACING_SHUTDOWN_MS);
    return response;
  };
}
