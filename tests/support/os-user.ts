import { readFileSync } from 'node:fs';

/**
 * The user to run PostgreSQL's and PgBouncer's own binaries as: both refuse root. Undefined when this process
 * is not root (they run as it); as root, the `postgres` user of Debian's packages (or `nobody`).
 */
export function serverUser(): { uid: number; gid: number } | undefined {
  if (process.getuid?.() !== 0) return undefined;
  const passwd = readFileSync('/etc/passwd', 'utf8').split('\n');
  for (const name of ['postgres', 'nobody']) {
    const [, , uid, gid] = passwd.find((line) => line.startsWith(`${name}:`))?.split(':') ?? [];
    if (uid && gid) return { uid: Number(uid), gid: Number(gid) };
  }
  throw new Error('running as root, and no postgres or nobody user to run the servers as');
}
