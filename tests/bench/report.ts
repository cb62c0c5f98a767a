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
  cold: Record<string, { ms: number; ratio: number; rssMiB: number; status: number }>;
  coldPaths: Record<string, string>;
  functions: string[];
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
  'Tried: the V8 code cache (the largest gain, see above); everything the first request does not need as chunks with their own code caches (pg, Kysely, jose, Ajv, fast-json-stringify, inject(), pino, semver, the OTel SDK and exporter, the Lambda adapter), so a function file is ~0.3 MB instead of ~0.95 MB; built-ins loaded on first use; a logger of our own instead of pino; Fastify without perf_hooks, avvio plugin timers or a registered CORS plugin; find-my-way without its start-up self-checks, and its matchers compiled on first use; one not-found tree instead of 34. What remains is Node deserializing the cache (≈ 6 ms), Fastify itself (its module graph, its ≈ 100 error classes, avvio, find-my-way: a Fastify "hello" with nothing else, through the same launcher and a code cache, measures ≈ 1.3× bare on this machine) and the young-generation collections all of it triggers, whose first touches of fresh memory are slow on this virtual machine (≈ 12-15 µs a page). With an OTLP endpoint, the OpenTelemetry SDK is loaded after the first response (the spans of the first request are recorded and handed to it), so tracing adds little: the OTLP figures track the telemetry-off ones.';

function targets(r: Results): Target[] {
  const list: Target[] = [];
  for (const name of r.functions) {
    const off = r.cold[name]!.ratio;
    const on = r.cold[`${name}+otel`]!.ratio;
    list.push(
      {
        what: `cold start, ${name} (telemetry off)`,
        measured: ratio(off),
        target: '≤ 1.5× bare',
        met: off <= 1.5,
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
  for (const name of ['items', 'health'].filter((n) => r.sizes[n])) {
    const bytes = r.sizes[name]!.startupBytes;
    list.push({
      what: `bundle size, ${name} (index.mjs + function.cjs)`,
      measured: `${(bytes / MB).toFixed(2)} MB`,
      target: '≤ 1 MB',
      met: bytes <= MB,
      ifMissed: 'The OpenTelemetry SDK and exporter and the Lambda adapter are already chunks loaded on use.',
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
      ifMissed: `Here even the baseline Fastify + plain pg item query reaches ${((runs['item:plain-pg']!.requestsPerSecond / runs.hello!.requestsPerSecond) * 100).toFixed(0)} % of "hello" (PostgreSQL, the server and the load generator share 2 cores); the items function reaches ${((runs.item!.requestsPerSecond / runs['item:plain-pg']!.requestsPerSecond) * 100).toFixed(0)} % of that while verifying a JWT, reading user and item through the cache and writing a log line per request. Tried (see "What each change bought"): HS256 verified in the request's thread, log lines written in batches, hooks that never wait without promises. What remains is mostly the response's own write and Fastify's per-request work (routing, hooks, CORS); on this shared machine the ratio swings widely from run to run (see "What each change bought").`,
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
    '| subject | first route | ms (median) | × bare (median of rounds) | RSS after it |',
    '|---|---|---|---|---|',
    `| bare node:http (baseline) | \`/\` | ${ms(bare)} | 1.00× | ${r.cold.bare!.rssMiB.toFixed(1)} MiB |`,
  ];
  for (const name of r.functions) {
    for (const key of [name, `${name}+otel`]) {
      const c = r.cold[key]!;
      const label = key.endsWith('+otel') ? `${name}, OTLP endpoint set` : `${name}`;
      rows.push(
        `| ${label} | \`${r.coldPaths[name]}\` → ${c.status} | ${ms(c.ms)} | ${ratio(c.ratio)} | ${c.rssMiB.toFixed(1)} MiB |`,
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
    `- machine: ${r.machine}; load average at start ${r.loadAverage} (other work was running: compare ratios, not milliseconds)`,
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
    'Measured during development (CPU time of the process to its first response, health, this machine under load; bare node:http ≈ 75 ms):',
    '',
    "- **V8 code cache** (the launcher compiles `function.cjs` with `cachedData` made at build time by running the function through warm-up requests): the bundle's compile step went from ≈ 150 ms to ≈ 15 ms; the whole cold start from ≈ 4.6× to ≈ 2.1× bare. A startup snapshot (`node --build-snapshot`) was not used: it needs a flag on the node command line, and the entry must stay `node dist/functions/<name>/index.mjs`.",
    "- **pg without its Cloudflare probe**: pg builds a fetch `Response` when it loads to detect Cloudflare Workers, which loads Node's whole fetch implementation (undici): ≈ 75 ms CPU on the first database request, now nothing.",
    '- **built-ins on first use** (https, http2, tls, dns, zlib, assert, crypto): ≈ 40 ms CPU; Fastify requires https and http2 for servers it never makes.',
    '- **no Ajv / fast-json-stringify at boot** (routes validate with valibot): ≈ 12-25 ms CPU.',
    '- **request ids without node:crypto**, and config reading crypto functions only when a key is set: ≈ 15-25 ms CPU on the first request.',
    '- **OTel SDK, gRPC exporter and the Lambda adapter in chunks/** loaded on use: the shipped function stays under 1 MB (it was ≈ 1.7 MB as one CommonJS file) and a cold start without an endpoint never reads them; the SDK chunk has its own code cache.',
    "- **Tracing SDK from ES modules, loaded after the first response** (OTLP endpoint set; health, spawn to first response, interleaved medians of 25-31 rounds, against telemetry off in the same run): the SDK chunk was read, deserialized, run and its provider built before `listen`, ≈ 25 ms, +0.22-0.28× bare. Built from the OpenTelemetry packages' ES modules, esbuild drops what is unused (the CommonJS builds made every constant of @opentelemetry/semantic-conventions at load): 59 KiB instead of 196 KiB, ≈ 8 ms, +0.00-0.10×. Loaded once the first response has gone out, with the spans of what ran before it recorded and handed over with the same ids and times (shared/telemetry/early-span.ts): −0.06 to −0.04×, i.e. nothing measurable (2.24× → 1.90-1.98× bare, telemetry off 1.96-2.02×). A request arriving while the SDK loads waits those ≈ 8 ms. The gRPC exporter's chunk, loaded by the first export a few seconds later, now has a code cache too (its load ≈ 35-50 ms → ≈ 18-23 ms). The hand-over (early-span.ts) went with issue 18 (2026-12-06): measured again as CPU time to the first response (health, 15 interleaved rounds, machine heavily loaded), the SDK at start cost +14.4 ms over telemetry off and after the first response +6.5 ms, ≈ 3 % of a ≈ 265 ms cold start (CPU, loaded machine): under the 5 % bar, so `@opentelemetry/sdk-trace-node`s NodeTracerProvider now loads at start when an endpoint is set.",
    "- **Everything the first request does not need as chunks** (tools/bundle/plugins.mjs; spawn to first response, interleaved medians of 15 rounds, the build before this work and after it in the same run): pg, Kysely, the schema compilers (Ajv, fast-json-stringify), `inject()` (light-my-request), pino's transports and semver became chunks/ loaded on first use, each with its own code cache; the function file went from ≈ 0.92-0.96 MB to ≈ 0.37-0.41 MB and its code cache from ≈ 0.97 MB to ≈ 0.6 MB, so a cold start reads and deserializes well under half as much. With the bcrypt addon opened on the first hash, pino no longer loading worker_threads (≈ 6 ms) nor touching process.stdout (≈ 4 ms to a file, ≈ 13 ms to a pipe as in a container), and the launcher taking built-ins through process.getBuiltinModule: health 1.80× → 1.54× bare, items 1.90× → 1.63×, in one run on a quiet machine; the CPU time of the main thread to the first response fell ≈ 15 %.",
    '- **HS256 key imported into WebCrypto once** (shared/auth/tokens.ts): jose imported the raw secret on every verify; that import was the largest item of the CPU profile of `GET /api/items/{id}`.',
    '- **Less of Fastify and its company at start** (spawn to first response, 31 rounds, each round\'s ratio to bare measured in that round; the build before this work and after it, and a Fastify "hello" through the same launcher, in one run): health 1.61× → 1.44× bare, items 1.63× → 1.45×, auth 1.72× → 1.40× (the "hello": 1.34×); page faults to the first response 3950-4160 → 3550-3620 (bare ≈ 2340), RSS ≈ 50 → 48 MiB. On this virtual machine a first touch of fresh memory costs ≈ 12-15 µs a page, so what a cold start allocates counts as much as what it runs. The pieces, as measured along the way (health unless said): lazy stand-ins that no longer copy hundreds of export names on an ES import, and find-my-way neither checking its own regular expressions at load (which loaded a regex parser) nor compiling the same matcher source again per route: ≈ 12 ms together (61 rounds); the script files written as the CommonJS wrapper itself, so that V8 compiles the source as read instead of copying it into a wrapped string: the compile step ≈ 8.5 → 6.5 ms; the scripts, ASCII, read as Latin-1 rather than decoded as UTF-8: ≈ 65 fewer page faults, ≈ 0.5-1 ms; Fastify timing replies without node:perf_hooks: ≈ 1.6 ms (the cost of loading it); @fastify/cors applied by calling it rather than registered as an avvio plugin: ≈ 5 ms (a Fastify "hello" with it registered and called, 41 rounds); find-my-way writing its matchers on first use, one not-found tree instead of 34 and no avvio timer per hook and route: ≈ 0.3 MB less garbage, so the third young-generation collection comes after the first response (≈ 3 ms); then, not measured one by one, a logger of our own that writes pino\'s lines (`tests/telemetry/logger.test.ts` compares the two) instead of building pino, pino\'s error serializer and safe-stable-stringify loaded when first needed, TRUST_PROXY lists answered by Node\'s BlockList built on first use instead of compiled with ipaddr.js at start, jose as a chunk (HS256 tokens verify without it), and an HS256 JWKS answered without importing the key into WebCrypto (auth\'s first route).',
    '- **pino, prom-client and NodeTracerProvider instead of copies** (issue 18, 2026-12-06; CPU time of the process to its first response, from /proc/<pid>/task/*/schedstat, health, 15 interleaved rounds on a machine at load ≈ 20 on 2 cores, where wall times were meaningless: bare itself took ≈ 3 s): bare 226 ms, the build before (our logger and registry, the build-time source patches) 215 ms (0.91× bare), after (pino with its redact paths, prom-client with its default metrics, and the source patches gone in the same hour) 258-265 ms (1.14-1.19×), with an OTLP endpoint 265-279 ms (1.16-1.24×). Not split between the three yet, nor confirmed on a quiet machine: `npm run bench` will say. pino with the redact paths of shared/telemetry/redact.ts writes a request line at the cost of pino without them (≈ 9 µs each in a loop here); paths beginning with a wildcard (`*.password`) would make it ≈ 15-50× that, which is why there are none.',
    '',
    "Throughput, measured during development: the items process's CPU time per request under this benchmark's load (from /proc; medians of 5 interleaved 3 s runs, before and after in the same run) and CPU profiles (`node --cpu-prof` of the `--readable` build):",
    '',
    "- **HS256 verified in the request's thread** (shared/auth/tokens.ts): jose verifies through WebCrypto, which runs every HMAC as a job on libuv's thread pool; that hop was ≈ 28 % of the CPU profile of `GET /api/items/{id}`. `node:crypto`'s HMAC costs ≈ 4 µs in-thread; the checks and their order are `jwtVerify`'s, and key pairs still verify with jose.",
    "- **log lines in batches** (shared/telemetry/logger.ts, the functions' servers; Lambda writes each line at once): pino's default stdout was an asynchronous SonicBoom that handed every line to the thread pool (≈ 8 % of the profile). Lines now go out 8 KiB at a time in one synchronous write, or 100 ms after the first line of a batch, and before the process exits (SIGTERM included). Since issue 18 (2026-12-06): pino, with `pino.destination({ sync: true })`: one synchronous write per line, no thread pool, nothing held back; the batching went with our logger (throughput not measured since).",
    "- **the page and its count in one statement** (functions/items/repository.ts): two parallel statements took two of the five pooled connections per request, and sending them was ≈ 27 % of the list's profile; the count is now joined to the page (one round trip, one snapshot). The plain-pg baseline runs the same statement, which made it cheaper too (≈ 490 → 410 µs per request).",
    "- **the list's statement compiled once per shape** (`compiledOnce`, shared/db/index.ts): Kysely building it was ≈ 7 % of the list's profile, now ≈ 1 %.",
    '- **cheaper metric keys, and per-request hooks that never wait calling `done()`** instead of being async (our registry; prom-client since issue 18, not measured since): ≈ 2-3 %.',
    '- Together: `GET /api/items/{id}` went from ≈ 290 to ≈ 140 µs of CPU per request (Fastify "hello" ≈ 60 µs) and from 41 % to 56 % of "hello"\'s throughput; the list from ≈ 940 to ≈ 555 µs (plain pg ≈ 410 µs) and from 67 % of plain pg (51 % of the cheaper one-statement baseline) to 80 %. Whole `npm run bench` runs swing with the machine\'s other work: the last two gave 38 % and 77 % for the item, 69 % and 73 % for the list.',
    '',
    '## Bundle size',
    '',
    '| function | index.mjs + function.cjs | V8 code cache | chunks/ (on use) | native addon |',
    '|---|---|---|---|---|',
    ...r.functions.map((name) => {
      const s = r.sizes[name]!;
      return `| ${name} | ${kib(s.startupBytes)} | ${kib(s.codeCacheBytes)} | ${kib(s.chunkBytes)} | ${s.nativeBytes ? kib(s.nativeBytes) : '-'} |`;
    }),
    '',
    '## Throughput',
    '',
    `${r.load.connections} keep-alive connections, closed loop, ${r.load.seconds} s per run, ${r.load.rounds} rounds, the load generator on the same machine. The items function runs as shipped (token verified, user read through the in-process cache, Kysely, one JSON log line per request, written in batches to a stdout the benchmark discards); "plain pg" is Fastify running the same SQL with \`pg\` and nothing else, and neither baseline logs (tests/bench/baselines/). The item is read through the cache, so it can outrun the plain-pg item query.`,
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
