// `npm start`: the whole API in one process on http://localhost:8080/api, with an embedded PostgreSQL when
// DATABASE_URL is not set. See the README for why one process rather than one per function.
import { resolve } from 'node:path';
import { allFunctions } from '../functions/registry.ts';
import { ConfigError, DEFAULT_DATA_DIR, loadConfig, loadDotEnv } from '../shared/config.ts';
import { createDatabase } from '../shared/db/index.ts';
import { setupDatabase } from '../shared/db/migrate.ts';
import { useDevSecretKey } from '../shared/dev-data.ts';
import { startServer, stopOnSignals } from '../shared/http/server.ts';
import { mailer } from '../shared/mail/index.ts';
import { createLogger } from '../shared/telemetry/logger.ts';
import { type EmbeddedDatabase, startEmbeddedPostgres } from './embedded-postgres.ts';

async function main(): Promise<void> {
  loadDotEnv();
  let embedded: EmbeddedDatabase | undefined;
  const hasDatabase = process.env.DATABASE_URL || process.env.POSTGRES_SERVER;
  if (!hasDatabase) {
    const dataDir = resolve(process.env.DATA_DIR || DEFAULT_DATA_DIR, 'postgres');
    process.stdout.write(`starting embedded PostgreSQL (data in ${dataDir})...\n`);
    embedded = await startEmbeddedPostgres({ dataDir });
    process.env.DATABASE_URL = embedded.url;
  }
  const devSecretKey = useDevSecretKey();
  const config = loadConfig();
  const log = createLogger('local', config.logLevel);
  const database = createDatabase(config);
  let setup: Awaited<ReturnType<typeof setupDatabase>>;
  try {
    setup = await setupDatabase(database.db, config);
  } finally {
    await database.close();
  }
  for (const line of setup.applied) log.info(line);

  const server = await startServer(allFunctions, { config, log, name: 'local', host: '0.0.0.0' });
  const base = `http://localhost:${config.port}/api`;
  const password = setup.generatedPassword ?? '(the value of FIRST_SUPERUSER_PASSWORD)';
  process.stdout.write(
    `${[
      '',
      `  API        ${base}`,
      `  Swagger UI ${base}/docs`,
      `  Health     ${base}/health`,
      `  Database   ${embedded ? `embedded PostgreSQL on 127.0.0.1:${embedded.port}` : 'DATABASE_URL'}`,
      `  Mail       ${mailer(server.ctx).destination ?? 'queued in the outbox (SMTP_HOST is not set)'}`,
      `  Node.js    ${process.version}`,
      `  Log in as  ${config.firstSuperuser.email} / ${password}`,
      `             curl -d 'username=${config.firstSuperuser.email}&password=...' ${base}/auth/token`,
      devSecretKey ? '  SECRET_KEY not set: using a development key kept in .data/' : '',
      '  Ctrl-C stops everything.',
      '',
    ]
      .filter((line) => line !== '')
      .join('\n')}\n\n`,
  );
  stopOnSignals(async () => {
    await server.stop();
    await embedded?.stop();
  }, log);
}

main().catch((error: unknown) => {
  process.stderr.write(
    `${error instanceof ConfigError ? error.message : String((error as Error)?.stack ?? error)}\n`,
  );
  process.exit(1);
});
