import { existsSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { createRequire } from 'node:module';
import { extname } from 'node:path';
import { fileURLToPath } from 'node:url';
import manifest from './assets.json' with { type: 'json' };

/**
 * The files the documentation pages load: Swagger UI, ReDoc and our start-up script. The build copies each
 * into `<bundle>/assets/` (with a gzipped twin), so they come from the bundle, never a CDN; they are read on
 * first request, so the megabytes of Swagger UI and ReDoc cost the cold start nothing.
 */

export type AssetName = keyof typeof manifest;

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

/** Beside the bundle; or, running from source, in node_modules or this folder, where the build takes it from. */
function locate(name: AssetName): string {
  const beside = fileURLToPath(new URL(`./assets/${name}`, import.meta.url));
  if (existsSync(beside)) return beside;
  const source = manifest[name];
  return source.startsWith('./')
    ? fileURLToPath(new URL(source, import.meta.url))
    : createRequire(import.meta.url).resolve(source);
}

const loaded = new Map<AssetName, Promise<Asset>>();

export function loadAsset(name: AssetName): Promise<Asset> {
  let asset = loaded.get(name);
  if (!asset) {
    const path = locate(name);
    asset = Promise.all([readFile(path), readFile(`${path}.gz`).catch(() => undefined)]).then(
      ([body, gzip]) => ({
        body,
        gzip,
        contentType: CONTENT_TYPES[extname(name)] ?? 'application/octet-stream',
      }),
    );
    asset.catch(() => loaded.delete(name));
    loaded.set(name, asset);
  }
  return asset;
}
