/**
 * Every cache key is namespaced and versioned: bump a version when the shape stored under it changes, and
 * old entries are simply never read again (instances of the old and new release can share one cache).
 */
const PREFIX = 'fs';

export const cacheKeys = {
  /** An open session and its user (shared/auth/current-user.ts). */
  session: (id: string) => `${PREFIX}:session:v2:${id}`,
  item: (id: string) => `${PREFIX}:item:v1:${id}`,
  rate: (scope: string, subject: string) => `${PREFIX}:rate:v1:${scope}:${subject}`,
};
