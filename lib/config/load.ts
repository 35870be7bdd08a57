/**
 * Loads the configuration from a YAML or JSON file and validates it strictly. Where the path comes
 * from (`--config`, or `CREDSYNC_CONFIG`) is the runtime's business (lib/runtime/env.ts).
 */
import { isAbsolute, resolve, dirname } from 'node:path';
import { parse as parseYaml, YAMLParseError } from 'yaml';
import { Config, crossFieldIssues, issueMessage, type ConfigInput } from './schema.ts';
import { ConfigError, CredsyncError, type ConfigIssue } from '../errors.ts';
import { boundedList, echo } from '../util/bounded.ts';
import { FILE_LIMITS, FileRefusedError, readRegularFile } from '../util/files.ts';

/**
 * YAML aliases a configuration may resolve (the yaml package counts each alias times the aliases
 * inside what it points to). The package's default, 100, refuses 100 data planes sharing one
 * anchor (`access: *kc`); 10,000 takes several thousand such data planes and still refuses an
 * alias bomb (nested aliases that expand exponentially) long before it costs memory.
 */
export const MAX_YAML_ALIASES = 10_000;

function issuePath(path: ReadonlyArray<PropertyKey>): string {
  return path
    .map((p, i) => (typeof p === 'number' ? `[${p}]` : i === 0 ? echo(String(p), 100) : `.${echo(String(p), 100)}`))
    .join('');
}

/** Validates an already-parsed configuration object. Throws {@link ConfigError} listing every problem. */
export function parseConfig(input: unknown, source?: string): Config {
  if (input === null || typeof input !== 'object' || Array.isArray(input)) {
    const what = input === null || input === undefined ? 'it is empty' : Array.isArray(input) ? 'it is a list' : `it is a single ${typeof input}`;
    throw new ConfigError([{ path: '', message: `not a flyte-credsync configuration (${what}; expected a mapping with controlPlane, store and dataPlanes)` }], source);
  }
  const result = Config.safeParse(input);
  const zodIssues = result.success ? [] : result.error.issues;
  const issues: ConfigIssue[] = zodIssues.map((i) => {
    const path = issuePath(i.path);
    if (i.code === 'unrecognized_keys')
      return { path, message: `unknown key(s): ${boundedList(i.keys.map((k) => (path ? `${path}.${k}` : k)), 10)}` };
    return { path, message: issueMessage(i, input) };
  });
  const labelsKnown = !zodIssues.some((i) => i.path[0] === 'dataPlanes' && i.code === 'unrecognized_keys');
  for (const c of crossFieldIssues(input, { labelsKnown })) issues.push({ path: issuePath(c.path), message: c.message });
  if (issues.length || !result.success) throw new ConfigError(issues, source);
  return result.data;
}

/**
 * Why a configuration file cannot be read, as an error: `CONFIG_NOT_FOUND` when there is no file at
 * the path, `CONFIG_UNREADABLE` when something is there that is not a readable regular file of at
 * most FILE_LIMITS.config (a directory, a device, too large, permission denied). The path is quoted
 * bounded and escaped.
 */
export function configFileError(path: string, err: unknown): CredsyncError {
  const missing = !(err instanceof FileRefusedError) || err.kind === 'missing';
  return new CredsyncError(missing ? 'CONFIG_NOT_FOUND' : 'CONFIG_UNREADABLE', `cannot read configuration ${echo(path)}: ${(err as Error).message}`, { cause: err });
}

/**
 * Reads and validates a configuration file. Relative file paths inside it resolve against its
 * directory.
 *
 * @throws CredsyncError `CONFIG_NOT_FOUND` when no path is given or there is no file at the path,
 *   `CONFIG_UNREADABLE` when it is not a readable regular file within FILE_LIMITS.config (refused
 *   at once, never read: {@link configFileError}); {@link ConfigError} (`CONFIG_INVALID`) listing
 *   every problem when it is not valid
 */
export async function loadConfig(file: string | undefined): Promise<Config> {
  if (!file)
    throw new CredsyncError('CONFIG_NOT_FOUND', 'no configuration: pass --config FILE or set CREDSYNC_CONFIG');
  let text: string;
  try {
    text = await readRegularFile(file, FILE_LIMITS.config);
  } catch (err) {
    throw configFileError(file, err);
  }
  return parseConfigText(text, echo(file), { json: file.endsWith('.json'), baseDir: dirname(resolve(file)) });
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
    throw new ConfigError([{ path: '', message: `not valid ${opts.json ? 'JSON' : 'YAML'}: ${syntaxProblem(err)}` }], source);
  }
  return resolveRelativePaths(parseConfig(raw, source), opts.baseDir);
}

/**
 * What is wrong with a configuration's text, in one line a person can act on: the parser's reason
 * and where (never the excerpt of the file it quotes), nesting too deep for the parser, or an
 * alias bomb.
 */
function syntaxProblem(err: unknown): string {
  const e = err as Error;
  const where = err instanceof YAMLParseError ? ` (line ${err.linePos?.[0].line ?? '?'}, column ${err.linePos?.[0].col ?? '?'})` : '';
  if (e instanceof RangeError || /Maximum call stack size exceeded/.test(String(e?.message)))
    return `nested too deeply for the parser${where}; a configuration is a few levels deep`;
  if (/Excessive alias count/.test(String(e?.message)))
    return `its aliases expand to more than ${MAX_YAML_ALIASES} nodes (an alias bomb?); write the values out or share fewer anchors`;
  // The parser's reason, without the excerpt of the file it appends after ':' on the next lines.
  if (err instanceof YAMLParseError) return `${echo(err.message.split('\n')[0]!.replace(/ at line \d+, column \d+:?$/, ''), 300)}${where}`;
  if (err instanceof SyntaxError) return echo(e.message, 300);
  return echo(String(err), 300);
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
