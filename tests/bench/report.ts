/** The figures of one `npm run bench`, and how RESULTS.md shows them. */
export interface Results {
  date: string;
  machine: string;
  loadAverage: string;
  node: string;
  database: string;
  bcryptCost: number;
  coldRounds: number;
  /**
   * Each subject ("bare", "<fn>", "<fn>+otel", "health:no-code-cache", "health:plain-esm"): the median of its
   * times, and the median of its ratios to bare in the same round.
   */
  cold: Record<
    string,
    { ms: number; ratio: number; rssMiB: number; bytesRead: number; status: number; vsShipped?: number }
  >;
  coldPaths: Record<string, string>;
  functions: string[];
  /** The functions also built without each intervention ("<fn>:without-<name>") and with the compile cache. */
  variantFunctions: string[];
  interventions: string[];
  sizes: Record<
    string,
    { startupBytes: number; codeCacheBytes: number; chunkBytes: number; nativeBytes: number }
  >;
  load: {
    connections: number;
    seconds: number;
    rounds: number;
    runs: Record<string, { requestsPerSecond: number; p99: number }>;
  };
  login: { medianMs: number; maxMs: number; samples: number };
  liveness: { idleP99: number; stormP99: number; stormLogins: number; stormSeconds: number };
  durationSeconds: number;
}

interface Target {
  what: string;
  measured: string;
  target: string;
  met: boolean;
  /** Shown when the target is missed: what was tried, and why the figure is where it is. */
  ifMissed: string;
}

const MB = 1_000_000;
const ms = (value: number) => `${value.toFixed(1)} ms`;
const kib = (bytes: number) => `${(bytes / 1024).toFixed(0)} KiB`;
const ratio = (value: number) => `${value.toFixed(2)}×`;

const COLD_START_TRIED =
  'Tried: the V8 code cache made at build time (the largest gain, see "What each change bought"); one bundle per function; what the first request does not need loaded on first use, in our own code (`await import()`: pg with the first query, jose with the first token, the OpenTelemetry SDK after the first response, the Lambda adapter) and, where the bench shows it earns its place, by a build-time stand-in (see the table of interventions). Dependencies run as published. What remains is Node deserializing the cache, Fastify itself (its module graph, avvio, find-my-way), pino, and the young-generation collections all of it triggers.';

function targets(r: Results): Target[] {
  const list: Target[] = [];
  for (const name of r.functions) {
    const off = r.cold[name]!.ratio;
    const on = r.cold[`${name}+otel`]!.ratio;
    list.push(
      {
        what: `cold start, ${name} (telemetry off)`,
        measured: ratio(off),
        target: '≤ 1.6× bare',
        met: off <= 1.6,
        ifMissed: COLD_START_TRIED,
      },
      {
        what: `cold start, ${name} (OTLP endpoint set)`,
        measured: ratio(on),
        target: '≤ 1.7× bare',
        met: on <= 1.7,
        ifMissed: COLD_START_TRIED,
      },
    );
  }
  for (const name of r.functions) {
    const bytes = r.cold[name]!.bytesRead;
    list.push({
      what: `bytes read by a cold start, ${name}`,
      measured: `${(bytes / MB).toFixed(2)} MB`,
      target: '≤ 1 MB',
      met: bytes <= MB,
      ifMissed: `Counted by the kernel (/proc/<pid>/io rchar, spawn to the first response; bare node:http reads ${(r.cold.bare!.bytesRead / MB).toFixed(2)} MB): the launcher, then function.cjs and its V8 code cache (about twice the size of the script it caches), both packed with zstd. What the first request does not need is in chunks/ already; what remains is Fastify and its dependencies as published (the build rewrites none of them), pino, Kysely, and our code.`,
    });
  }
  for (const name of r.functions) {
    const rss = r.cold[name]!.rssMiB;
    list.push({
      what: `RSS after the first request, ${name}`,
      measured: `${rss.toFixed(1)} MiB`,
      target: '≤ 80 MiB',
      met: rss <= 80,
      ifMissed:
        'Nothing is loaded that the first request does not need; the code cache adds its own size once.',
    });
  }
  const runs = r.load.runs;
  const item = runs.item!.requestsPerSecond / runs.hello!.requestsPerSecond;
  const listShare = runs.list!.requestsPerSecond / runs['list:plain-pg']!.requestsPerSecond;
  list.push(
    {
      what: 'GET /api/items/{id} throughput vs Fastify "hello"',
      measured: `${(item * 100).toFixed(1)} %`,
      target: '≥ 50 %',
      met: item >= 0.5,
      ifMissed: `Here even the baseline Fastify + plain pg item query reaches ${((runs['item:plain-pg']!.requestsPerSecond / runs.hello!.requestsPerSecond) * 100).toFixed(0)} % of "hello" (PostgreSQL, the server and the load generator share 2 cores); the items function reaches ${((runs.item!.requestsPerSecond / runs['item:plain-pg']!.requestsPerSecond) * 100).toFixed(0)} % of that while verifying a JWT, reading user and item through the cache and writing a log line per request. What remains is mostly the response's own write and Fastify's per-request work (routing, hooks, CORS); on this shared machine the ratio swings widely from run to run.`,
    },
    {
      what: 'GET /api/items/?limit=20 throughput vs plain pg',
      measured: `${(listShare * 100).toFixed(1)} %`,
      target: '≥ 70 %',
      met: listShare >= 0.7,
      ifMissed:
        'The same statement as the baseline (the page and its count in one); the difference is the JWT, the user lookup, validation, Kysely running the statement, serializing 20 items and the log line. On this shared machine the ratio swings from run to run (64-90 % over the last runs of this benchmark; the build before the cold-start work and after it served the list at the same rate, 2084 and 2086 req/s, medians of 6 interleaved 3 s runs).',
    },
  );
  const live = r.liveness.stormP99 / r.liveness.idleP99;
  list.push({
    what: '/api/health/live p99 during a login storm vs idle',
    measured: ratio(live),
    target: '≤ 3×',
    met: live <= 3,
    ifMissed:
      'bcrypt runs on libuv threads (@node-rs/bcrypt), never on the event loop, and at most cores − 1 at once (shared/auth/passwords.ts), so one core stays for the loop; what is left is the machine: PostgreSQL, the load generator and the server share 2 cores.',
  });
  return list;
}

function coldTable(r: Results): string[] {
  const bare = r.cold.bare!.ms;
  const rows = [
    '| subject | first route | ms (median) | × bare (median of rounds) | RSS after it | bytes read |',
    '|---|---|---|---|---|---|',
    `| bare node:http (baseline) | \`/\` | ${ms(bare)} | 1.00× | ${r.cold.bare!.rssMiB.toFixed(1)} MiB | ${kib(r.cold.bare!.bytesRead)} |`,
  ];
  for (const name of r.functions) {
    for (const key of [name, `${name}+otel`]) {
      const c = r.cold[key]!;
      const label = key.endsWith('+otel') ? `${name}, OTLP endpoint set` : `${name}`;
      rows.push(
        `| ${label} | \`${r.coldPaths[name]}\` → ${c.status} | ${ms(c.ms)} | ${ratio(c.ratio)} | ${c.rssMiB.toFixed(1)} MiB | ${kib(c.bytesRead)} |`,
      );
    }
  }
  return rows;
}

function changesTable(r: Results): string[] {
  const row = (label: string, key: string) => {
    const c = r.cold[key];
    return c ? `| ${label} | ${ms(c.ms)} | ${ratio(c.ratio)} |` : '';
  };
  return [
    '| health built as | ms (median) | × bare |',
    '|---|---|---|',
    row('one minified ES module, everything loaded at start (before)', 'health:plain-esm'),
    row('launcher + CommonJS + lazy loading, code cache removed', 'health:no-code-cache'),
    row('as shipped: the same with its V8 code cache', 'health'),
  ].filter(Boolean);
}

const percent = (value: number) => `${value >= 0 ? '+' : ''}${(value * 100).toFixed(1)} %`;

/** Interventions that are for the bytes a cold start reads, and are judged on them rather than on its time. */
const FOR_BYTES_READ = new Set(['packing']);

/**
 * Each build-time intervention, left out of an otherwise shipped build, and the compile-cache launcher, against
 * the shipped build of the same function in the same rounds. An intervention earns its place at ≥ 5 % of the
 * figure it is for: a cold start's time, or (packing) the bytes it reads.
 */
function interventionsSection(r: Results): string[] {
  const fns = r.variantFunctions;
  // What leaving it out costs, as a share of the cold start (time, bytes read) without it.
  const timeSaved = (fn: string, name: string) => {
    const c = r.cold[`${fn}:without-${name}`];
    return c?.vsShipped === undefined ? Number.NaN : 1 - 1 / c.vsShipped;
  };
  const bytesSaved = (fn: string, name: string) => {
    const c = r.cold[`${fn}:without-${name}`];
    return c === undefined ? Number.NaN : 1 - r.cold[fn]!.bytesRead / c.bytesRead;
  };
  const cell = (fn: string, name: string) =>
    Number.isNaN(timeSaved(fn, name))
      ? '-'
      : `${percent(timeSaved(fn, name))} / ${percent(bytesSaved(fn, name))}`;
  const survives = (name: string) =>
    fns.some((fn) => (FOR_BYTES_READ.has(name) ? bytesSaved(fn, name) : timeSaved(fn, name)) >= 0.05);
  const launcher = fns.map((fn) => r.cold[`${fn}:launcher-compile-cache`]?.vsShipped ?? Number.NaN);
  // The compile cache is the simpler (Node's own loader and cache): vm.Script stays only if ≥ 5 % faster.
  const vmScriptWins = launcher.every((v) => v >= 1.05);
  return [
    '## Build-time interventions',
    '',
    `Each named rule of tools/bundle/plugins.mjs, and the packing of what a cold start reads (\`node esbuild.config.mjs --without=<name>\`), measured by building ${fns.join(' and ')} without it and starting that build in the same rounds as the shipped one: the share of the cold start's time, and of the bytes it reads, that it saves (without it = 100 %; negative: it costs that much). A rule stays only where it saves at least 5 % of the figure it is for in some function: the time of a cold start, or for packing the bytes it reads.`,
    '',
    `| intervention | ${fns.map((fn) => `${fn}: time / bytes read`).join(' | ')} | judged on | verdict |`,
    `|---|${fns.map(() => '---|').join('')}---|---|`,
    ...r.interventions.map(
      (name) =>
        `| ${name} | ${fns.map((fn) => cell(fn, name)).join(' | ')} | ${FOR_BYTES_READ.has(name) ? 'bytes read' : 'time'} | ${survives(name) ? 'earns its place' : '**below 5 %: to remove**'} |`,
    ),
    '',
    '## Launcher: vm.Script against module.enableCompileCache',
    '',
    `The shipped launcher (tools/bundle/launcher.mjs) compiles function.cjs and each chunk through \`vm.Script\` with a V8 code cache made at build time after warm-up requests. The alternative (\`--launcher=compile-cache\`, tools/bundle/compile-cache-launcher.mjs) loads them through Node's own loader with \`module.enableCompileCache()\` and a cache directory filled by the same training. Cold start of the compile-cache build against the shipped one, same rounds: ${fns.map((fn, i) => `${fn} ${ratio(launcher[i]!)}`).join(', ')}. The compile cache is the simpler, so the vm.Script launcher stays only where it is at least 5 % faster (1.05× or more): ${vmScriptWins ? 'it is, so vm.Script wins.' : 'it is not, so the compile cache wins.'}`,
  ];
}

/** Missed targets, grouped where they share an explanation (every cold start). */
function missedByReason(missed: Target[]): string[] {
  const reasons = [...new Set(missed.map((t) => t.ifMissed))];
  return reasons.map((reason) => {
    const which = missed.filter((t) => t.ifMissed === reason);
    return `- ${which.map((t) => `${t.what}: ${t.measured} (wanted ${t.target})`).join('; ')}. ${reason}`;
  });
}

export function renderResults(r: Results, options: { summaryOnly?: boolean } = {}): string {
  const list = targets(r);
  const summary = [
    '| target | measured | wanted | |',
    '|---|---|---|---|',
    ...list.map((t) => `| ${t.what} | ${t.measured} | ${t.target} | ${t.met ? 'met' : '**missed**'} |`),
  ];
  if (options.summaryOnly) return summary.join('\n');
  const runs = r.load.runs;
  const rps = (key: string) => runs[key]!.requestsPerSecond;
  const missed = list.filter((t) => !t.met);
  return `${[
    '# Benchmark results',
    '',
    `Written by \`npm run bench\` (tests/bench/) on ${r.date}, in ${r.durationSeconds.toFixed(0)} s.`,
    '',
    `- machine: ${r.machine}; load average at start ${r.loadAverage} (a shared machine: compare ratios, not milliseconds)`,
    `- Node ${r.node}; database: ${r.database}; bcrypt cost ${r.bcryptCost}`,
    `- every figure is a median; each subject is measured interleaved with its baseline in a shuffled order, so drift of the machine falls on both; a cold start's ratio to bare is the median of its ratios round by round`,
    '',
    '## Targets',
    '',
    ...summary,
    '',
    '## Cold start',
    '',
    `Spawn of \`node <entry>\` to the end of the first response on the function's cheapest route (${r.coldRounds} rounds). The functions log at \`info\` and have a database configured (their first route does not touch it). "OTLP endpoint set" points \`OTEL_EXPORTER_OTLP_ENDPOINT\` at a closed local port: tracing starts, and the first response must not wait for it.`,
    '',
    ...coldTable(r),
    '',
    '## What each change bought',
    '',
    'Measured in this run, on the health function:',
    '',
    ...changesTable(r),
    '',
    'Measured during development (still true of the code):',
    '',
    '- **Tracing SDK at start** (OTLP endpoint set): the hand-over of early spans (early-span.ts) went with issue 18 (2026-12-06): measured again as CPU time to the first response (health, 15 interleaved rounds, machine heavily loaded), the SDK at start cost +14.4 ms over telemetry off and after the first response +6.5 ms, ≈ 3 % of a ≈ 265 ms cold start (CPU, loaded machine): under the 5 % bar, so `@opentelemetry/sdk-trace-node`s NodeTracerProvider now loads at start when an endpoint is set.',
    '- **pino, prom-client and NodeTracerProvider instead of copies** (issue 18, 2026-12-06; CPU time of the process to its first response, from /proc/<pid>/task/*/schedstat, health, 15 interleaved rounds on a machine at load ≈ 20 on 2 cores, where wall times were meaningless: bare itself took ≈ 3 s): bare 226 ms, the build before (our logger and registry, the build-time source patches) 215 ms (0.91× bare), after (pino with its redact paths, prom-client with its default metrics, and the source patches gone in the same hour) 258-265 ms (1.14-1.19×), with an OTLP endpoint 265-279 ms (1.16-1.24×). Not split between the three yet, nor confirmed on a quiet machine: `npm run bench` will say. pino with the redact paths of shared/telemetry/redact.ts writes a request line at the cost of pino without them (≈ 9 µs each in a loop here); paths beginning with a wildcard (`*.password`) would make it ≈ 15-50× that, which is why there are none.',
    '- **Stand-ins that went** (issue 18, 2026-12-06, `--without=<name>` in a quiet run of this benchmark, share of the cold start saved, health / items): light-my-request for `inject()` −1.2 % / −3.0 %, semver +1.4 % / −0.2 %, Kysely +3.8 % / +4.5 %: each under 5 %, so each went. Kysely now loads when the function does; @fastify/cors and @fastify/helmet are registered, so Fastify checks their version range with semver as it does for any plugin.',
    '- **Outbox catch-up after the first answer** (shared/http/after-first-response.ts): auth and users started their mail relay as they became ready, which loaded pg and Kysely and queried before their first answer (+0.7 MB read, measured with strace); it now starts 250 ms after the first answer.',
    "- **Packing, decompressed how** (2026-12-06, items' script and cache, fresh processes, quiet machine): reading them unpacked ≈ 9.5 ms; zstd on the thread pool, both at once ≈ 43 ms (and 14-18 % of a cold start in one run of this benchmark); synchronously with Node's 16 KiB output chunks ≈ 33 ms; synchronously into one buffer per file ≈ 19 ms, as shipped (gzip the same way ≈ 20 ms, and larger). Node loading node:zlib is ≈ 4 ms of it.",
    '',
    "Throughput, measured during development (the items process's CPU time per request and CPU profiles of the `--readable` build):",
    '',
    "- **the page and its count in one statement** (functions/items/repository.ts): two parallel statements took two of the five pooled connections per request, and sending them was ≈ 27 % of the list's profile; the count is now joined to the page (one round trip, one snapshot). The plain-pg baseline runs the same statement, which made it cheaper too (≈ 490 → 410 µs per request).",
    "- **the list's statement compiled once per shape** (`compiledOnce`, shared/db/index.ts): Kysely building it was ≈ 7 % of the list's profile, now ≈ 1 %.",
    '',
    ...interventionsSection(r),
    '',
    '## Bundle size',
    '',
    '| function | index.mjs + function.cjs (packed) | V8 code cache (packed) | chunks/ (on use) | native addon |',
    '|---|---|---|---|---|',
    ...r.functions.map((name) => {
      const s = r.sizes[name]!;
      return `| ${name} | ${kib(s.startupBytes)} | ${kib(s.codeCacheBytes)} | ${kib(s.chunkBytes)} | ${s.nativeBytes ? kib(s.nativeBytes) : '-'} |`;
    }),
    '',
    '## Throughput',
    '',
    `${r.load.connections} keep-alive connections, closed loop, ${r.load.seconds} s per run, ${r.load.rounds} rounds, the load generator on the same machine. The items function runs as shipped (token verified, user read through the in-process cache, Kysely, one JSON log line per request, written by pino to a stdout the benchmark discards); "plain pg" is Fastify running the same SQL with \`pg\` and nothing else, and neither baseline logs (tests/bench/baselines/). The item is read through the cache, so it can outrun the plain-pg item query.`,
    '',
    '| endpoint | req/s | p99 | vs Fastify "hello" | vs plain pg |',
    '|---|---|---|---|---|',
    `| Fastify "hello" (baseline) | ${rps('hello').toFixed(0)} | ${ms(runs.hello!.p99)} | 100 % | |`,
    `| plain pg: item by id (baseline) | ${rps('item:plain-pg').toFixed(0)} | ${ms(runs['item:plain-pg']!.p99)} | ${((rps('item:plain-pg') / rps('hello')) * 100).toFixed(0)} % | 100 % |`,
    `| plain pg: list of 20 (baseline) | ${rps('list:plain-pg').toFixed(0)} | ${ms(runs['list:plain-pg']!.p99)} | ${((rps('list:plain-pg') / rps('hello')) * 100).toFixed(0)} % | 100 % |`,
    `| GET /api/items/{id} | ${rps('item').toFixed(0)} | ${ms(runs.item!.p99)} | ${((rps('item') / rps('hello')) * 100).toFixed(0)} % | ${((rps('item') / rps('item:plain-pg')) * 100).toFixed(0)} % |`,
    `| GET /api/items/?limit=20 | ${rps('list').toFixed(0)} | ${ms(runs.list!.p99)} | ${((rps('list') / rps('hello')) * 100).toFixed(0)} % | ${((rps('list') / rps('list:plain-pg')) * 100).toFixed(0)} % |`,
    '',
    '## Logins and the event loop',
    '',
    `Login (\`POST /api/auth/token\`, auth bundle) at bcrypt cost ${r.bcryptCost}: median ${ms(r.login.medianMs)}, slowest ${ms(r.login.maxMs)} of ${r.login.samples}.`,
    '',
    `\`/api/health/live\` p99, probed every 5 ms in a process that serves auth and health together (\`dist/local/start.mjs\`): idle ${ms(r.liveness.idleP99)}; during a storm of 4 concurrent login loops (${r.liveness.stormLogins} logins in ${r.liveness.stormSeconds} s) ${ms(r.liveness.stormP99)}: ${ratio(r.liveness.stormP99 / r.liveness.idleP99)}. bcrypt runs off the event loop, and at most cores − 1 at once (shared/auth/passwords.ts): without that cap four hashing threads took both cores and this ratio was 4-9×; the cost is login throughput, which waits its turn instead.`,
    '',
    '## Targets missed',
    '',
    ...(missed.length === 0 ? ['None in this run.'] : missedByReason(missed)),
  ].join('\n')}\n`;
}
