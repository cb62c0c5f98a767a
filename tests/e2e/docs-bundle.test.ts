import { execFileSync, spawn } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import manifest from '../../functions/docs/assets.json' with { type: 'json' };
import { rewriteAsset } from '../../functions/docs/assets.ts';
import { allFunctions } from '../../functions/registry.ts';
import { freePort } from '../../local/embedded-postgres.ts';
import { generateOpenApiDocument } from '../../tools/openapi/generate.ts';
import { TEST_SECRET_KEY } from '../support/app.ts';
import { type RunningBundle, startBundle } from '../support/process.ts';

// The built docs bundle as a real process, from another working directory and with no database: it serves the
// document the build embedded and the pages' files from beside itself.
let bundle: RunningBundle;

beforeAll(async () => {
  bundle = await startBundle('docs', { SECRET_KEY: TEST_SECRET_KEY, LOG_LEVEL: 'info' }, { cwd: tmpdir() });
}, 60_000);

afterAll(() => bundle?.stop('SIGKILL'));

const get = (path: string, init?: RequestInit) => fetch(`${bundle.url}${path}`, init);

/** The script and stylesheet URLs a page loads. */
function resourcesOf(html: string): string[] {
  return [...html.matchAll(/(?:src|href)="([^"]+)"/g)].map((m) => m[1]!);
}

describe('docs bundle', () => {
  it('serves the document generated from every function at build time', async () => {
    const response = await get('/api/openapi.json');
    expect(response.status).toBe(200);
    expect(response.headers.get('content-type')).toBe('application/json; charset=utf-8');
    const fromSource = JSON.parse(JSON.stringify(await generateOpenApiDocument(allFunctions)));
    expect(await response.json()).toEqual(fromSource);
    expect(JSON.parse(readFileSync('dist/openapi.json', 'utf8'))).toEqual(fromSource);
  });

  it('carries none of the other functions, nor bcrypt, nor the generator', () => {
    const meta = JSON.parse(readFileSync('dist/functions/docs/meta.json', 'utf8')) as {
      inputs: Record<string, unknown>;
    };
    const inputs = Object.keys(meta.inputs);
    expect(inputs).toContain('functions/docs/routes.ts');
    expect(
      inputs.filter((i) => /^functions\/(?!docs\/)|^tools\/|^local\/|bcrypt|@fastify\/swagger|jose/.test(i)),
    ).toEqual([]);
  });

  for (const page of ['/api/docs', '/api/redoc']) {
    it(`serves ${page} with a strict policy and every file it loads from the bundle`, async () => {
      for (const path of [page, `${page}/`]) {
        const response = await get(path);
        expect(response.status).toBe(200);
        expect(response.headers.get('content-type')).toBe('text/html; charset=utf-8');
        const csp = response.headers.get('content-security-policy')!;
        expect(csp).toContain("default-src 'none'");
        expect(csp).toContain("script-src 'self';");
        expect(csp).not.toMatch(/script-src[^;]*unsafe/);
        expect(csp).not.toMatch(/https?:/);
        const html = await response.text();
        expect(html).not.toMatch(/<script>|<script [^>]*>[^<]/); // no inline script
        const resources = resourcesOf(html);
        expect(resources.length).toBeGreaterThan(1);
        for (const resource of resources) {
          expect(resource.startsWith('/api/')).toBe(true);
          const file = await get(resource);
          expect(file.status, resource).toBe(200);
          expect((await file.arrayBuffer()).byteLength, resource).toBeGreaterThan(0);
        }
      }
    });
  }

  it('serves Swagger UI and ReDoc byte for byte, gzipped when the client accepts it', async () => {
    const require = createRequire(import.meta.url);
    const cases = [
      ['swagger-ui-bundle.js', 'swagger-ui-dist/swagger-ui-bundle.js', 'text/javascript; charset=utf-8'],
      ['swagger-ui.css', 'swagger-ui-dist/swagger-ui.css', 'text/css; charset=utf-8'],
      ['redoc.standalone.js', 'redoc/bundles/redoc.standalone.js', 'text/javascript; charset=utf-8'],
    ] as const;
    for (const [name, source, type] of cases) {
      const expected = rewriteAsset(manifest[name], readFileSync(require.resolve(source)));
      const plain = await get(`/api/docs/assets/${name}`, { headers: { 'accept-encoding': 'identity' } });
      expect(plain.headers.get('content-type')).toBe(type);
      expect(plain.headers.get('content-encoding')).toBeNull();
      expect(Buffer.from(await plain.arrayBuffer()).equals(expected)).toBe(true);
      // fetch inflates the body itself; the header says it travelled gzipped.
      const gzipped = await get(`/api/docs/assets/${name}`, { headers: { 'accept-encoding': 'gzip' } });
      expect(gzipped.headers.get('content-encoding')).toBe('gzip');
      expect(gzipped.headers.get('vary')).toMatch(/accept-encoding/i);
      expect(Buffer.from(await gzipped.arrayBuffer()).equals(expected)).toBe(true);
    }
    expect(readFileSync(resolve('dist/functions/docs/assets/swagger-init.js'), 'utf8')).toContain(
      'validatorUrl: null',
    );
    // ReDoc's one call to another host, its logo, is rewritten away.
    const redoc = readFileSync(resolve('dist/functions/docs/assets/redoc.standalone.js'), 'utf8');
    expect(redoc).not.toContain('cdn.redoc.ly');
  });

  it('answers an unknown file with a problem+json 404', async () => {
    const response = await get('/api/docs/assets/..%2F..%2Fpackage.json');
    expect(response.status).toBe(404);
    expect(response.headers.get('content-type')).toContain('application/problem+json');
    expect((await get('/api/docs/assets/index.mjs')).status).toBe(404);
  });

  it('serves the pages and their files from the image as knative/stage-bundle.sh stages it', async () => {
    const app = mkdtempSync(join(tmpdir(), 'fs-docs-image-'));
    let staged: RunningBundle | undefined;
    try {
      execFileSync('sh', ['knative/stage-bundle.sh', 'docs', app]);
      const port = await freePort();
      const child = spawn(process.execPath, [join(app, 'index.mjs')], {
        cwd: app,
        env: { PATH: process.env.PATH, SECRET_KEY: TEST_SECRET_KEY, PORT: String(port), LOG_LEVEL: 'warn' },
        stdio: 'ignore',
      });
      staged = {
        url: `http://127.0.0.1:${port}`,
        port,
        child,
        lines: [],
        waitForLine: () => Promise.reject(new Error('stdout is not read here')),
        stderr: () => '',
        stop: async () => null,
      };
      let page: Response | undefined;
      for (let i = 0; i < 200 && !page; i++) {
        page = await fetch(`${staged.url}/api/docs`).catch(() => undefined);
        if (!page) await new Promise((r) => setTimeout(r, 50));
      }
      const resources = [
        ...resourcesOf(await page!.text()),
        ...resourcesOf(await (await fetch(`${staged.url}/api/redoc`)).text()),
      ];
      for (const resource of resources)
        expect((await fetch(`${staged.url}${resource}`)).status, resource).toBe(200);
    } finally {
      staged?.child.kill('SIGKILL');
      rmSync(app, { recursive: true, force: true });
    }
  });
});
