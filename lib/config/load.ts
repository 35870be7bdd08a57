/**
 * Loads the configuration from a YAML or JSON file and validates it strictly. Where the path comes
 * from (`--config`, or `CREDSYNC_CONFIG`) is the runtime's business (lib/runtime/env.ts).
 */
import { isAbsolute, resolve, dirname } from 'node:path';
import { parse as parseYaml, YAMLParseError } from 'yaml';
import { Config, crossFieldIssues, issueMessage, type ConfigInput } from './schema.ts';
import { ConfigError, CredsyncError, type ConfigIssue } from '../errors.ts';
import { FILE_LIMITS, readRegularFile } from '../util/files.ts';

/**
 * YAML aliases a configuration may resolve (the yaml package counts each alias times the aliases
 * inside what it points to). The package's default, 100, refuses 100 data planes sharing one
 * anchor (`access: *kc`); 10,000 takes several thousand such data planes and still refuses an
 * alias bomb (nested aliases that expand exponentially) long before it costs memory.
 */
export const MAX_YAML_ALIASES = 10_000;

function issuePath(path: ReadonlyArray<PropertyKey>): string {
  return path
    .map((p, i) => (typeof p === 'number' ? `[${p}]` : i === 0 ? String(p) : `.${String(p)}`))
    .join('');
}

/** Validates an already-parsed configuration object. Throws {@link ConfigError} listing every problem. */
export function parseConfig(input: unknown, source?: string): Config {
  const result = Config.safeParse(input);
  const issues: ConfigIssue[] = result.success
    ? []
    : result.error.issues.map((i) => {
        const path = issuePath(i.path);
        if (i.code === 'unrecognized_keys')
          return { path, message: `unknown key(s): ${i.keys.map((k) => (path ? `${path}.${k}` : k)).join(', ')}` };
        return { path, message: issueMessage(i) };
      });
  for (const c of crossFieldIssues(input)) issues.push({ path: issuePath(c.path), message: c.message });
  if (issues.length || !result.success) throw new ConfigError(issues, source);
  return result.data;
}

/**
 * Reads and validates a configuration file. Relative file paths inside it resolve against its
 * directory.
 *
 * @throws CredsyncError `CONFIG_NOT_FOUND` when no path is given or the file cannot be read (a file that
 *   is not a regular file, or larger than FILE_LIMITS.config, is refused at once, never read);
 *   {@link ConfigError} (`CONFIG_INVALID`) listing every problem when it is not valid
 */
export async function loadConfig(file: string | undefined): Promise<Config> {
  if (!file)
    throw new CredsyncError('CONFIG_NOT_FOUND', 'no configuration: pass --config FILE or set CREDSYNC_CONFIG');
  let text: string;
  try {
    text = await readRegularFile(file, FILE_LIMITS.config);
  } catch (err) {
    throw new CredsyncError('CONFIG_NOT_FOUND', `cannot read configuration ${file}: ${(err as Error).message}`, {
      cause: err,
    });
  }
  return parseConfigText(text, file, { json: file.endsWith('.json'), baseDir: dirname(resolve(file)) });
}

/**
 * Parses and validates a configuration's text, wherever it came from (a file, an SSM parameter,
 * a Secret Manager version: ./source.ts).
 *
 * @param source names it in errors (a path, `ssm:/name version 3`)
 * @param opts.json JSON instead of YAML (default YAML, of which JSON is a subset anyway)
 * @param opts.baseDir relative file paths inside resolve against it
 * @throws ConfigError listing every problem
 */
export function parseConfigText(text: string, source: string, opts: { json?: boolean; baseDir: string }): Config {
  // A byte-order mark (Windows editors write one) is not part of the content.
  if (text.startsWith('\uFEFF')) text = text.slice(1);
  let raw: unknown;
  try {
    raw = opts.json ? JSON.parse(text) : parseYaml(text, { uniqueKeys: true, maxAliasCount: MAX_YAML_ALIASES });
  } catch (err) {
    const msg = err instanceof YAMLParseError || err instanceof SyntaxError ? err.message : String(err);
    throw new ConfigError([{ path: '', message: `not valid ${opts.json ? 'JSON' : 'YAML'}: ${msg}` }], source);
  }
  return resolveRelativePaths(parseConfig(raw, source), opts.baseDir);
}

function resolveRelativePaths(cfg: Config, base: string): Config {
  const fix = (p: string | undefined) => (p === undefined || isAbsolute(p) ? p : resolve(base, p));
  const fixAccess = <A extends Config['controlPlane']['access']>(a: A): A => {
    if (a.type === 'kubeconfig') return { ...a, path: fix(a.path) };
    if (a.type === 'token') return { ...a, caFile: fix(a.caFile), tokenFile: fix(a.tokenFile) };
    return a;
  };
  return {
    ...cfg,
    controlPlane: { ...cfg.controlPlane, access: fixAccess(cfg.controlPlane.access) },
    dataPlanes: cfg.dataPlanes.map((d) => ({ ...d, access: fixAccess(d.access) })),
    ...(cfg.labels?.flyteadmin.caFile ? { labels: { ...cfg.labels, flyteadmin: { ...cfg.labels.flyteadmin, caFile: fix(cfg.labels.flyteadmin.caFile) } } } : {}),
  };
}

export type { ConfigInput };
