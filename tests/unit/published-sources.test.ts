import { createHash } from 'node:crypto';
import { existsSync, readdirSync, readFileSync, statSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { describe, expect, it } from 'vitest';

/**
 * Every bundle holds its dependencies' files exactly as published: no build step rewrites a package's source.
 * Read from what the build leaves in dist/ (global setup builds everything first): each esbuild metafile's
 * node_modules inputs must have the size of the file on disk, and the source maps, which hold the text esbuild
 * bundled for each input (`sourcesContent`), must hash to the file on disk. A file that comes with a source map
 * of its own is mapped through it to its original sources, so for those the size is what is compared.
 */

interface Metafile {
  inputs: Record<string, { bytes: number }>;
  outputs: Record<string, unknown>;
}

const dist = resolve('dist');
const sha256 = (text: string | Buffer) => createHash('sha256').update(text).digest('hex');
// A plugin's own module (`namespace:path`, such as a lazy stand-in) is not a file of a package.
const fromNodeModules = (path: string) => /(^|[\\/])node_modules[\\/]/.test(path) && !/^[\w-]+:/.test(path);

/** Every metafile the build writes: meta.json beside each bundle, and chunks.meta.json (one per chunk). */
function metafiles(dir = dist): { file: string; meta: Metafile }[] {
  const found: { file: string; meta: Metafile }[] = [];
  const name = (path: string) => path.slice(dist.length + 1);
  for (const entry of readdirSync(dir, { withFileTypes: true })) {
    const path = join(dir, entry.name);
    // dist/bench/ holds the benchmark's variants and copies, which are never shipped.
    if (entry.isDirectory() && path !== join(dist, 'bench')) found.push(...metafiles(path));
    else if (entry.name === 'meta.json')
      found.push({ file: name(path), meta: JSON.parse(readFileSync(path, 'utf8')) as Metafile });
    else if (entry.name === 'chunks.meta.json')
      for (const [chunk, meta] of Object.entries(
        JSON.parse(readFileSync(path, 'utf8')) as Record<string, Metafile>,
      ))
        found.push({ file: join(name(dir), 'chunks', chunk), meta });
  }
  return found;
}

/** The node_modules files a metafile's outputs were made from, with the text their source maps hold. */
function bundledSources(meta: Metafile): Map<string, string> {
  const sources = new Map<string, string>();
  for (const output of Object.keys(meta.outputs).filter((o) => o.endsWith('.map'))) {
    const map = JSON.parse(readFileSync(output, 'utf8')) as { sources: string[]; sourcesContent: string[] };
    map.sources.forEach((source, i) => {
      const path = resolve(dirname(output), source);
      if (fromNodeModules(path) && existsSync(path)) sources.set(path, map.sourcesContent[i] ?? '');
    });
  }
  return sources;
}

const all = metafiles();

describe('bundles hold their dependencies as published', () => {
  it('finds the metafiles of every function, its chunks and the migrate tool', () => {
    const files = new Set(all.map(({ file }) => file));
    for (const name of readdirSync(join(dist, 'functions')))
      expect(files).toContain(join('functions', name, 'meta.json'));
    expect(files).toContain(join('functions', 'health', 'chunks', 'tracing-sdk'));
    expect(files).toContain(join('tools', 'meta.json'));
  });

  it.each(all.map(({ file, meta }) => [file, meta] as const))(
    '%s: every node_modules input is the file on disk',
    (_, meta) => {
      const inputs = Object.entries(meta.inputs).filter(([path]) => fromNodeModules(path));
      for (const [path, { bytes }] of inputs) expect([path, bytes]).toEqual([path, statSync(path).size]);
      const bundled = bundledSources(meta);
      for (const [path] of inputs) {
        const onDisk = readFileSync(resolve(path), 'utf8');
        const text = bundled.get(resolve(path));
        if (text === undefined || onDisk.includes('//# sourceMappingURL=')) continue;
        expect([path, sha256(text)]).toEqual([path, sha256(onDisk)]);
      }
    },
  );
});
