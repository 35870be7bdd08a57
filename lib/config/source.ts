/**
 * Where the functions' configuration comes from, chosen by `CREDSYNC_CONFIG`, so that it can change
 * without a redeploy:
 *
 * | `CREDSYNC_CONFIG`                        | source                                   | version            |
 * |------------------------------------------|------------------------------------------|--------------------|
 * | `config/credsync.yaml` (a path)          | a file: shipped in the zip, or mounted (a Cloud Functions secret volume, a ConfigMap) | sha256 of its bytes |
 * | `ssm:/flyte-credsync/config`             | an AWS SSM Parameter Store parameter (String or SecureString), in the function's region | the parameter's version |
 * | `gcpsm:projects/P/secrets/S`             | a GCP Secret Manager secret, its `latest` version | the version number |
 *
 * {@link ConfigWatcher} reads it once per cold start and on every invocation asks only for the
 * version (or the bytes, for a file) again: an unchanged version reuses the parsed configuration; a
 * new one is validated with the same strict schema and, when valid, used from then on. A new
 * version that is not valid is refused with a clear error, and the last good one keeps running.
 */
import { createHash } from 'node:crypto';
import { dirname, resolve } from 'node:path';
import { CredsyncError, describeError, errorCode, type ErrorCode } from '../errors.ts';
import { configFileError, parseConfigText } from './load.ts';
import { echo } from '../util/bounded.ts';
import type { Config } from './schema.ts';
import { FILE_LIMITS, readRegularFile } from '../util/files.ts';

export type ConfigSource =
  | { kind: 'file'; path: string }
  | { kind: 'ssm'; name: string }
  | { kind: 'gcpsm'; secret: string };

/**
 * Reads `CREDSYNC_CONFIG`'s value.
 *
 * @throws CredsyncError `CONFIG_NOT_FOUND` for a malformed `ssm:` or `gcpsm:` value
 */
export function parseConfigSource(value: string): ConfigSource {
  if (value.startsWith('ssm:')) {
    const name = value.slice(4);
    if (!/^(\/[A-Za-z0-9_.-]+)+$|^[A-Za-z0-9_.-]+$/.test(name) || name.length > 2048)
      throw new CredsyncError('CONFIG_NOT_FOUND', `CREDSYNC_CONFIG: "ssm:" must be followed by a parameter name such as /flyte-credsync/config`);
    return { kind: 'ssm', name };
  }
  if (value.startsWith('gcpsm:')) {
    const secret = value.slice(6);
    if (!/^projects\/[a-z0-9-]+\/secrets\/[A-Za-z0-9_-]{1,255}$/.test(secret))
      throw new CredsyncError('CONFIG_NOT_FOUND', 'CREDSYNC_CONFIG: "gcpsm:" must be followed by projects/PROJECT/secrets/SECRET');
    return { kind: 'gcpsm', secret };
  }
  return { kind: 'file', path: value };
}

/** One read of the source: the text, its version, and how errors name it. */
export interface ConfigText {
  text: string;
  version: string;
  /** `ssm:/flyte-credsync/config version 3`. */
  name: string;
  json: boolean;
}

/** Reads a source once. The cloud readers are injected (lib/runtime/wiring.ts), so this stays SDK-free. */
export type ConfigReader = () => Promise<ConfigText>;

/**
 * A file: its version is the sha256 of its bytes (a mounted file changes in place). Only a regular
 * file of at most FILE_LIMITS.config is read (lib/util/files.ts): `/dev/zero` is refused at once.
 */
export function fileReader(path: string): ConfigReader {
  return async () => {
    let text: string;
    try {
      text = await readRegularFile(path, FILE_LIMITS.config);
    } catch (err) {
      throw configFileError(path, err);
    }
    return { text, version: 'sha256:' + createHash('sha256').update(text).digest('hex').slice(0, 12), name: echo(path), json: path.endsWith('.json') };
  };
}

export interface ConfigState {
  config: Config;
  version: string;
  source: string;
  /** A newer version that was refused, with why and its stable code (the last good one is `version`). */
  refused?: { version: string; reason: string; code: ErrorCode };
}

/**
 * Keeps the last good configuration of a source and re-reads it on each {@link ConfigWatcher.current} call.
 *
 * @param baseDir relative paths inside a configuration that is not a file resolve against it
 *   (default: the process's working directory, the function's root on Lambda and Cloud Functions)
 */
export class ConfigWatcher {
  private last: ConfigState | undefined;
  private readonly read: ConfigReader;
  private readonly source: ConfigSource;
  private readonly baseDir: string;

  constructor(source: ConfigSource, read: ConfigReader, baseDir = process.cwd()) {
    this.source = source;
    this.read = read;
    this.baseDir = source.kind === 'file' ? dirname(resolve(source.path)) : baseDir;
  }

  /**
   * The configuration to run with now.
   *
   * @throws ConfigError / CONFIG_NOT_FOUND when there is no good version yet (a cold start with a
   *   bad or unreadable configuration); later failures keep the last good version and say so in
   *   `refused`
   */
  async current(): Promise<ConfigState> {
    let t: ConfigText;
    try {
      t = await this.read();
    } catch (err) {
      if (!this.last) throw err;
      return { ...this.last, refused: { version: 'unknown', reason: `cannot read the configuration: ${describeError(err)}`, code: errorCode(err) } };
    }
    if (this.last && this.last.version === t.version) return stripRefused(this.last);
    if (this.last?.refused?.version === t.version) return this.last;
    try {
      const config = parseConfigText(t.text, t.name, { json: t.json, baseDir: this.baseDir });
      this.last = { config, version: t.version, source: describeSource(this.source) };
      return this.last;
    } catch (err) {
      if (!this.last) throw err;
      this.last = { ...stripRefused(this.last), refused: { version: t.version, reason: describeError(err), code: errorCode(err) } };
      return this.last;
    }
  }
}

function stripRefused(s: ConfigState): ConfigState {
  const { refused: _ignored, ...rest } = s;
  return rest;
}

/** How reports and logs name a source. */
export function describeSource(s: ConfigSource): string {
  return echo(s.kind === 'file' ? s.path : s.kind === 'ssm' ? `ssm:${s.name}` : `gcpsm:${s.secret}`);
}
