// `npm run migrate`: applies the migrations on DATABASE_URL and creates the first superuser once.
// `npm run migrate -- --down` reverts the latest migration. Also the command of the Kubernetes migration Job.
import { ConfigError, loadConfig, loadDotEnv } from '../shared/config.ts';
import { createDatabase } from '../shared/db/index.ts';
import { migrateDown, setupDatabase } from '../shared/db/migrate.ts';

async function main(): Promise<number> {
  loadDotEnv();
  const config = loadConfig();
  if (!config.database.url) {
    console.error(
      'DATABASE_URL (or POSTGRES_SERVER) must be set; `npm start` runs an embedded database instead.',
    );
    return 1;
  }
  const database = createDatabase(config);
  try {
    if (process.argv.includes('--down')) {
      for (const line of await migrateDown(database.db)) console.log(line);
      return 0;
    }
    const result = await setupDatabase(database.db, config);
    for (const line of result.applied) console.log(line);
    if (result.applied.length === 0) console.log('migrations: up to date');
    const state = result.superuserCreated ? 'created' : 'already exists';
    console.log(`first superuser ${config.firstSuperuser.email}: ${state}`);
    return 0;
  } finally {
    await database.close();
  }
}

try {
  process.exitCode = await main();
} catch (error) {
  console.error(error instanceof ConfigError ? error.message : error);
  process.exitCode = 1;
}
