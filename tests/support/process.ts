import { type ChildProcess, spawn } from 'node:child_process';
import { once } from 'node:events';
import { resolve } from 'node:path';
import { freePort } from '../../local/embedded-postgres.ts';

export interface RunningBundle {
  url: string;
  port: number;
  child: ChildProcess;
  /** Every stdout line so far (JSON log lines). */
  lines: string[];
  /** The first log line that matches, once it is written (it may reach the pipe a little after its response). */
  waitForLine(match: (line: Record<string, unknown>) => boolean): Promise<Record<string, unknown>>;
  /** Everything written to stderr so far (a crash's stack lands here). */
  stderr(): string;
  /** Sends a signal and resolves with the exit code, once every line the process wrote has been read. */
  stop(signal?: NodeJS.Signals): Promise<number | null>;
}

/** Runs `node dist/functions/<name>/index.mjs` as a real process, the way its container does. */
export async function startBundle(
  name: string,
  env: Record<string, string | undefined>,
  /** `nodeArgs`: flags for node itself, before the script (e.g. --inspect for the memory soak). */
  options: { cwd?: string; timeoutMs?: number; nodeArgs?: string[] } = {},
): Promise<RunningBundle> {
  const port = await freePort();
  const entry = resolve('dist/functions', name, 'index.mjs');
  const child = spawn(process.execPath, [...(options.nodeArgs ?? []), entry], {
    cwd: options.cwd ?? process.cwd(),
    env: { PATH: process.env.PATH, ...env, PORT: String(port) },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  const lines: string[] = [];
  let stderr = '';
  // A read may end inside a line; its start waits for the rest.
  let partial = '';
  child.stdout?.setEncoding('utf8').on('data', (chunk: string) => {
    const parts = (partial + chunk).split('\n');
    partial = parts.pop() ?? '';
    lines.push(...parts.filter(Boolean));
  });
  child.stderr?.setEncoding('utf8').on('data', (chunk: string) => {
    stderr += chunk;
  });
  const url = `http://127.0.0.1:${port}`;
  const deadline = Date.now() + (options.timeoutMs ?? 15_000);
  for (;;) {
    if (child.exitCode !== null) throw new Error(`${name} exited with ${child.exitCode}: ${stderr}`);
    try {
      await fetch(`${url}/__ready_probe__`);
      break;
    } catch {
      if (Date.now() > deadline) {
        child.kill('SIGKILL');
        throw new Error(`${name} did not listen on ${port} in time: ${stderr}`);
      }
      await new Promise((r) => setTimeout(r, 25));
    }
  }
  return {
    url,
    port,
    child,
    lines,
    async waitForLine(match) {
      const deadline = Date.now() + 10_000;
      for (;;) {
        const found = lines.map((l) => JSON.parse(l) as Record<string, unknown>).find(match);
        if (found) return found;
        if (Date.now() > deadline) throw new Error(`no such log line in ${lines.length} lines`);
        await new Promise((r) => setTimeout(r, 20));
      }
    },
    stderr: () => stderr,
    async stop(signal = 'SIGTERM') {
      if (child.exitCode !== null) return child.exitCode;
      child.kill(signal);
      const [code] = (await once(child, 'close')) as [number | null];
      return code;
    },
  };
}

/** Logged by stopOnSignals (shared/http/server.ts) once every shutdown step has finished (info level). */
export const SHUTDOWN_FINISHED = 'stopped';
/** Logged instead when a shutdown outlasts SHUTDOWN_DEADLINE_MS and the process exits anyway. */
export const SHUTDOWN_CUT_SHORT = 'shutdown took too long; exiting anyway';

/** The messages of a bundle's log lines so far (after stop(), all of them). */
export function loggedMessages(bundle: RunningBundle): string[] {
  return bundle.lines.map((line) => String((JSON.parse(line) as { message?: unknown }).message));
}
