import { realpathSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import type { FastifyInstance } from 'fastify';
import { type Config, ConfigError, loadConfig } from '../config.ts';
import { useDevSecretKey } from '../dev-data.ts';
import { createLogger, type Logger } from '../telemetry/logger.ts';
import { type BuildAppOptions, buildApp, type FunctionDefinition } from './app.ts';
import { type AppContext, type ContextOverrides, createContext } from './context.ts';

/** How long a shutdown may take before the process exits anyway; Knative's default grace period is 30 s. */
export const SHUTDOWN_DEADLINE_MS = 9_000;

export interface StartedServer {
  app: FastifyInstance;
  ctx: AppContext;
  url: string;
  /** Stops accepting, finishes what was accepted, runs shutdown hooks, closes the pool. */
  stop(): Promise<void>;
}

export interface StartOptions extends BuildAppOptions {
  config?: Config;
  log?: Logger;
  overrides?: ContextOverrides;
  host?: string;
  port?: number;
  /** Name on log lines and metrics; the function's own name unless several are served together. */
  name?: string;
}

export async function startServer(
  functions: FunctionDefinition[],
  options: StartOptions = {},
): Promise<StartedServer> {
  const config = options.config ?? loadConfig();
  const name = options.name ?? functions.map((f) => f.name).join('+');
  const log = options.log ?? createLogger(name, config.logLevel);
  const ctx = createContext(name, config, log, options.overrides);
  const app = await buildApp(functions, ctx, options);
  const url = await app.listen({ host: options.host ?? '0.0.0.0', port: options.port ?? config.port });
  let stopping: Promise<void> | undefined;
  return {
    app,
    ctx,
    url,
    stop() {
      stopping ??= (async () => {
        await app.close();
        await ctx.close();
      })();
      return stopping;
    },
  };
}

/** Exit cleanly on SIGTERM (Knative scaling down, a rollout) and SIGINT (Ctrl-C). */
export function stopOnSignals(stop: () => Promise<void>, log: Logger): void {
  let received = false;
  const onSignal = (signal: NodeJS.Signals) => {
    if (received) return;
    received = true;
    // Exits once the destination has written every line (pino's flush; ours writes each line as it comes).
    const exit = () => log.flush(() => process.exit(0));
    log.info({ signal }, 'shutting down: finishing accepted requests');
    const deadline = setTimeout(() => {
      log.error({ deadline_ms: SHUTDOWN_DEADLINE_MS }, 'shutdown took too long; exiting anyway');
      process.exit(0);
    }, SHUTDOWN_DEADLINE_MS);
    deadline.unref();
    stop().then(
      () => {
        log.info('stopped');
        exit();
      },
      (error: unknown) => {
        log.error({ err: error }, 'error while stopping');
        exit();
      },
    );
  };
  process.on('SIGTERM', onSignal);
  process.on('SIGINT', onSignal);
}

/** Runs one function as its container does: config from the environment, listen on $PORT, stop on signals. */
export async function runFunction(definition: FunctionDefinition): Promise<void> {
  let config: Config;
  const devSecretKey = useDevSecretKey();
  try {
    config = loadConfig();
  } catch (error) {
    if (error instanceof ConfigError) {
      process.stderr.write(`${definition.name}: ${error.message}\n`);
      process.exit(1);
    }
    throw error;
  }
  const log = createLogger(definition.name, config.logLevel);
  if (devSecretKey) {
    log.warn('SECRET_KEY is not set: using the development key kept under the data directory');
  }
  const server = await startServer([definition], { config, log });
  stopOnSignals(server.stop, log);
}

/** True when this module is the program node was asked to run (not imported by Lambda or a test). */
export function isMain(moduleUrl: string): boolean {
  const entry = process.argv[1];
  if (!entry || process.env.AWS_LAMBDA_FUNCTION_NAME) return false;
  try {
    return realpathSync(entry) === realpathSync(fileURLToPath(moduleUrl));
  } catch {
    return false;
  }
}
