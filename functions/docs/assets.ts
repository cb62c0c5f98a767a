import { existsSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { createRequire } from 'node:module';
import { extname } from 'node:path';
import { fileURLToPath } from 'node:url';
import manifest from './assets.json' with { type: 'json' };

/**
 * The files the documentation pages load: Swagger UI, ReDoc and our start-up script (assets.json). The build
 * copies each into `<bundle>/assets/` (with a gzipped twin), so they come from the bundle, never a CDN; they are
 * read on first request, so the megabytes of Swagger UI and ReDoc cost the cold start nothing.
 *
 * `replace` rewrites a file as it is copied. ReDoc's side menu shows a logo from cdn.redoc.ly (no option turns
 * it off); pointing it at an empty `data:` URL makes ReDoc hide it, so the page asks nothing of another host.
 */

export type AssetName = keyof typeof manifest;
interface AssetSource {
  from: string;
  replace?: Record<string, string>;
}

export interface Asset {
  body: Buffer;
  /** Present when the build wrote a gzipped copy. */
  gzip: Buffer | undefined;
  contentType: string;
}

const CONTENT_TYPES: Record<string, string> = {
  '.js': 'text/javascript; charset=utf-8',
  '.css': 'text/css; charset=utf-8',
  '.png': 'image/png',
};

export function isAssetName(name: string): name is AssetName {
  return Object.hasOwn(manifest, name);
}

/** Applies an asset's `replace` rules; the build does the same when it copies the file. */
export function rewriteAsset(source: AssetSource, body: Buffer): Buffer {
  if (!source.replace) return body;
  let text = body.toString('utf8');
  for (const [from, to] of Object.entries(source.replace)) text = text.replaceAll(from, to);
  return Buffer.from(text);
}

async function read(name: AssetName): Promise<Omit<Asset, 'contentType'>> {
  const beside = fileURLToPath(new URL(`./assets/${name}`, import.meta.url));
  if (existsSync(beside)) {
    const [body, gzip] = await Promise.all([
      readFile(beside),
      readFile(`${beside}.gz`).catch(() => undefined),
    ]);
    return { body, gzip };
  }
  // Running from source: where the build takes the file from.
  const source: AssetSource = manifest[name];
  const path = source.from.startsWith('./')
    ? fileURLToPath(new URL(source.from, import.meta.url))
    : createRequire(import.meta.url).resolve(source.from);
  return { body: rewriteAsset(source, await readFile(path)), gzip: undefined };
}

const loaded = new Map<AssetName, Promise<Asset>>();

export function loadAsset(name: AssetName): Promise<Asset> {
  let asset = loaded.get(name);
  if (!asset) {
    asset = read(name).then((file) => ({
      ...file,
      contentType: CONTENT_TYPES[extname(name)] ?? 'application/octet-stream',
    }));
    asset.catch(() => loaded.delete(name));
    loaded.set(name, asset);
  }
  return asset;
}
