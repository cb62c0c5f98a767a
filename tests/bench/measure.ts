import { type ChildProcess, spawn } from 'node:child_process';
import { once } from 'node:events';
import { readFileSync } from 'node:fs';
import http from 'node:http';
import { freePort } from '../../local/embedded-postgres.ts';

/** Small statistics over samples in milliseconds. */
export function median(values: number[]): number {
  return quantile(values, 0.5);
}

export function quantile(values: number[], q: number): number {
  if (values.length === 0) return Number.NaN;
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.min(sorted.length - 1, Math.max(0, Math.ceil(q * sorted.length) - 1))]!;
}

interface Reply {
  status: number;
  body: string;
}

/** One HTTP request on its own connection (no agent): what a client meeting a cold instance does. */
export function request(
  port: number,
  path: string,
  options: { method?: string; headers?: Record<string, string>; body?: string; agent?: http.Agent } = {},
): Promise<Reply> {
  return new Promise((resolve, reject) => {
    const req = http.request(
      {
        host: '127.0.0.1',
        port,
        path,
        method: options.method ?? 'GET',
        headers: options.headers,
        agent: options.agent ?? false,
      },
      (res) => {
        let body = '';
        res.setEncoding('utf8');
        res.on('data', (chunk: string) => {
          body += chunk;
        });
        res.on('end', () => resolve({ status: res.statusCode ?? 0, body }));
        res.on('error', reject);
      },
    );
    req.on('error', reject);
    req.end(options.body);
  });
}

/** Resident set size of a process, in MiB, from /proc (Linux); undefined elsewhere. */
export function rssMiB(pid: number): number | undefined {
  try {
    const status = readFileSync(`/proc/${pid}/status`, 'utf8');
    const kib = /VmRSS:\s+(\d+)\s+kB/.exec(status)?.[1];
    return kib ? Number(kib) / 1024 : undefined;
  } catch {
    return undefined;
  }
}

/** Bytes the process has read through read(2) and friends (/proc/<pid>/io rchar: files, pipes, sockets). */
export function bytesRead(pid: number): number | undefined {
  try {
    const io = readFileSync(`/proc/${pid}/io`, 'utf8');
    const bytes = /rchar:\s+(\d+)/.exec(io)?.[1];
    return bytes ? Number(bytes) : undefined;
  } catch {
    return undefined;
  }
}

export interface ColdStart {
  /** Spawn to the end of the first response, ms. */
  ms: number;
  status: number;
  rssMiB: number | undefined;
  /** What the process read to get there: its scripts and their code caches, and Node's own start-up reads. */
  bytesRead: number | undefined;
}

/**
 * Spawns `node <entry>` on a free port and asks `path` until an answer comes: the time from spawn to the end of
 * that first response is the cold start (connection refusals are retried every millisecond). The process is
 * killed afterwards.
 */
export async function coldStart(
  entry: string,
  path: string,
  env: Record<string, string>,
): Promise<ColdStart> {
  const port = await freePort();
  const started = performance.now();
  const child = spawn(process.execPath, [entry], {
    env: { PATH: process.env.PATH ?? '', ...env, PORT: String(port) },
    stdio: ['ignore', 'ignore', 'pipe'],
  });
  let stderr = '';
  child.stderr?.setEncoding('utf8').on('data', (chunk: string) => {
    stderr += chunk;
  });
  try {
    for (;;) {
      if (child.exitCode !== null) throw new Error(`${entry} exited with ${child.exitCode}: ${stderr}`);
      try {
        const reply = await request(port, path);
        const ms = performance.now() - started;
        return { ms, status: reply.status, rssMiB: rssMiB(child.pid!), bytesRead: bytesRead(child.pid!) };
      } catch {
        if (performance.now() - started > 20_000)
          throw new Error(`${entry} did not answer in 20 s: ${stderr}`);
        await new Promise((r) => setTimeout(r, 1));
      }
    }
  } finally {
    await stop(child);
  }
}

export async function stop(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return;
  child.kill('SIGKILL');
  await once(child, 'exit');
}

export interface Server {
  port: number;
  child: ChildProcess;
  stop(): Promise<void>;
}

/** Starts a long-running server process and waits until `readyPath` answers. */
export async function startServer(
  args: string[],
  env: Record<string, string>,
  readyPath: string,
): Promise<Server> {
  const port = await freePort();
  const child = spawn(process.execPath, args, {
    env: { PATH: process.env.PATH ?? '', ...env, PORT: String(port) },
    stdio: ['ignore', 'ignore', 'pipe'],
  });
  let stderr = '';
  child.stderr?.setEncoding('utf8').on('data', (chunk: string) => {
    stderr += chunk;
  });
  const deadline = performance.now() + 30_000;
  for (;;) {
    if (child.exitCode !== null)
      throw new Error(`${args.join(' ')} exited with ${child.exitCode}: ${stderr}`);
    try {
      await request(port, readyPath);
      break;
    } catch {
      if (performance.now() > deadline) throw new Error(`${args.join(' ')} did not start: ${stderr}`);
      await new Promise((r) => setTimeout(r, 20));
    }
  }
  return { port, child, stop: () => stop(child) };
}

export interface LoadResult {
  requestsPerSecond: number;
  p50: number;
  p99: number;
  errors: number;
}

/**
 * Closed-loop load: `connections` keep-alive connections each send the next request as soon as the previous
 * answer ends, for `seconds`. Every answer must have `expectStatus`; others count as errors.
 */
export async function load(
  port: number,
  path: string,
  options: { connections: number; seconds: number; headers?: Record<string, string>; expectStatus?: number },
): Promise<LoadResult> {
  const agent = new http.Agent({ keepAlive: true, maxSockets: options.connections });
  const latencies: number[] = [];
  let errors = 0;
  const end = performance.now() + options.seconds * 1000;
  const worker = async () => {
    while (performance.now() < end) {
      const started = performance.now();
      try {
        const reply = await request(port, path, { headers: options.headers, agent });
        if (reply.status !== (options.expectStatus ?? 200)) errors++;
        else latencies.push(performance.now() - started);
      } catch {
        errors++;
      }
    }
  };
  const began = performance.now();
  await Promise.all(Array.from({ length: options.connections }, worker));
  const elapsed = (performance.now() - began) / 1000;
  agent.destroy();
  return {
    requestsPerSecond: latencies.length / elapsed,
    p50: quantile(latencies, 0.5),
    p99: quantile(latencies, 0.99),
    errors,
  };
}

/** Sequential probes of `path`, one every `intervalMs`, for `seconds`: the latencies, ms. */
export async function probe(
  port: number,
  path: string,
  seconds: number,
  intervalMs: number,
): Promise<number[]> {
  const agent = new http.Agent({ keepAlive: true, maxSockets: 1 });
  const latencies: number[] = [];
  const end = performance.now() + seconds * 1000;
  while (performance.now() < end) {
    const started = performance.now();
    const reply = await request(port, path, { agent });
    if (reply.status !== 200) throw new Error(`${path} answered ${reply.status} during the probe`);
    latencies.push(performance.now() - started);
    await new Promise((r) => setTimeout(r, intervalMs));
  }
  agent.destroy();
  return latencies;
}
