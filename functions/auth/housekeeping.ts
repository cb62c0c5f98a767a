import { purgeExpiredSessions } from '../../shared/auth/session-store.ts';
import type { Purge } from '../../shared/db/housekeeping.ts';
import { mailPurges } from '../../shared/mail/housekeeping.ts';

/** What auth purges on its schedule (shared/db/housekeeping.ts): its mail and tokens, and expired sessions. */
export const authPurges: Purge[] = [
  ...mailPurges,
  // Their refresh tokens go with them (on delete cascade).
  { name: 'session', run: (db, options) => purgeExpiredSessions(db, options) },
];
