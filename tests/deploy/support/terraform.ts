import { readdirSync, readFileSync } from 'node:fs';
import { join, relative, resolve } from 'node:path';
import { parse } from '@cdktf/hcl2json';
import { parse as parseYaml } from 'yaml';
import { repoRoot } from './manifests.ts';

export const terraformDir = resolve(repoRoot, 'terraform');

/** Every .tf file under terraform/, recursively. */
export function terraformFiles(dir = terraformDir): string[] {
  return readdirSync(dir, { withFileTypes: true }).flatMap((entry) => {
    const path = join(dir, entry.name);
    if (entry.isDirectory()) return entry.name === '.terraform' ? [] : terraformFiles(path);
    return entry.name.endsWith('.tf') ? [path] : [];
  });
}

type Hcl = Record<string, Record<string, unknown>>;

/** Parses one file with HashiCorp's HCL2 parser (compiled to wasm): throws on any syntax error. */
export async function parseTerraform(file: string): Promise<Hcl> {
  return (await parse(relative(terraformDir, file), readFileSync(file, 'utf8'))) as Hcl;
}

/** Every `variable` block's default, by name. */
export async function variableDefaults(): Promise<Record<string, unknown>> {
  const defaults: Record<string, unknown> = {};
  for (const file of terraformFiles()) {
    const variables = (await parseTerraform(file)).variable ?? {};
    for (const [name, blocks] of Object.entries(variables)) {
      defaults[name] = (blocks as { default?: unknown }[])[0]?.default;
    }
  }
  return defaults;
}

/**
 * Renders a manifests/*.yaml.tftpl the way templatefile() does for the plain `${name}` interpolations these
 * templates use (a template with any other directive fails here rather than being half-rendered).
 */
export function renderTemplate(name: string, vars: Record<string, unknown>): unknown {
  const text = readFileSync(resolve(terraformDir, 'manifests', name), 'utf8');
  if (/%\{/.test(text)) throw new Error(`${name}: template directives are not modelled`);
  const rendered = text.replace(/\$\{([a-z_]+)\}/g, (_, key: string) => {
    if (!(key in vars)) throw new Error(`${name}: no value for \${${key}}`);
    return String(vars[key]);
  });
  if (/\$\{/.test(rendered)) throw new Error(`${name}: an interpolation is left unrendered`);
  return parseYaml(rendered);
}
