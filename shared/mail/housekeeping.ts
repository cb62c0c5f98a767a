import { purgeEmailTokens } from '../auth/email-tokens.ts';
import { KEEP_DELIVERED_HOURS, type Purge } from '../db/housekeeping.ts';
import { mailStore } from './outbox-store.ts';

/**
 * What the functions that write mail and link tokens (auth, users) purge, with or without an SMTP server: sent
 * mail a day after it went, and the links' tokens a day after they were spent or expired.
 */
export const mailPurges: Purge[] = [
  {
    name: 'outbox_mail',
    run: (db, options) => mailStore.purgeDelivered(db, KEEP_DELIVERED_HOURS, options),
  },
  {
    name: 'email_token',
    run: (db, options) => purgeEmailTokens(db, KEEP_DELIVERED_HOURS, options),
  },
];
