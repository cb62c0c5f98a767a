import type { Migration } from 'kysely';
import * as m0001 from './0001_users_and_items.ts';

/**
 * Every migration, in order. Listed statically (not read from the folder) so that the migrate bundle carries
 * them and runs from any working directory. Add a new file, then add it here.
 */
export const migrations: Record<string, Migration> = {
  '0001_users_and_items': m0001,
};
