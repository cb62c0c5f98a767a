import type { FastifyInstance } from 'fastify';

type AnyPlugin<O> = (
  instance: FastifyInstance,
  options: O,
  done: (error?: Error) => void,
) => void | Promise<void>;

/**
 * Runs a third-party plugin on `app` itself instead of registering it: its hooks, decorators and routes go to
 * `app` as a registration would put them there (these plugins skip encapsulation anyway), but Fastify does not
 * check the version range the plugin declares, which would load semver at every cold start. The range is checked
 * by tests/unit/plugins.test.ts instead. Callback and async plugins alike.
 */
export function applyPlugin<O>(app: FastifyInstance, plugin: unknown, options: O): Promise<void> {
  return new Promise<void>((resolve, reject) => {
    const done = (error?: Error) => (error ? reject(error) : resolve());
    const result = (plugin as AnyPlugin<O>)(app, options, done);
    if (result instanceof Promise) result.then(() => resolve(), reject);
  });
}
