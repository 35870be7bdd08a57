/**
 * The real CLI with 5,000 data planes (issue #20 item 2): whatever their number, what a person
 * reads stays bounded (counts and the first few, never one line per data plane), and a hostile
 * `--cluster` value is echoed escaped. The data planes are unreachable: each is a token access to
 * a closed port on 127.0.0.1, which refuses at once, so a run over all 5,000 takes seconds. The
 * control plane and the store are the local environment's real servers.
 */
import { beforeAll, describe, expect, it } from '@jest/globals';
import { spawn } from 'node:child_process';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { loadTestEnv, uniquePrefix, writableState, type EnvInfo } from './helpers.ts';

let env: EnvInfo;
let config: string;
let prefix: string;
const N = 5000;
/** What a person's terminal may get from one command over 5,000 data planes, stdout and stderr together. */
const BOUND = 64 * 1024;
const HOSTILE = 'dp1\u001b[31mRED\nFAKE LOG LINE';
const CONTROL = /[\u0000-\u0008\u000b-\u001f\u007f-\u009f\u2028\u2029\u202a-\u202e]/;

/** A port on 127.0.0.1 that nothing listens on (taken, then released). */
async function closedPort(): Promise<number> {
  const s = createServer();
  await new Promise<void>((r) => s.listen(0, '127.0.0.1', r));
  const port = (s.address() as { port: number }).port;
  await new Promise((r) => s.close(r));
  return port;
}

/** Runs the CLI as a child process, bounded in time; output collected whole (to measure it). */
function credsync(args: string[]): Promise<{ code: number | null; stdout: string; stderr: string }> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, ['--disable-warning=ExperimentalWarning', 'lib/cli/main.ts', ...args], {
      env: { ...process.env, AWS_ACCESS_KEY_ID: env.aws.accessKeyId, AWS_SECRET_ACCESS_KEY: env.aws.secretAccessKey, AWS_REGION: env.aws.region },
    });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d: Buffer) => (stdout += d.toString('utf8')));
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString('utf8')));
    const timer = setTimeout(() => child.kill('SIGKILL'), 240_000);
    child.on('error', reject);
    child.on('close', (code) => {
      clearTimeout(timer);
      resolve({ code, stdout, stderr });
    });
  });
}

beforeAll(async () => {
  env = loadTestEnv();
  const dir = mkdtempSync(join(tmpdir(), 'credsync-5000-'));
  const port = await closedPort();
  const tokenFile = join(dir, 'token');
  writeFileSync(tokenFile, 'not-a-token');
  prefix = uniquePrefix('many');
  config = join(dir, 'credsync.json');
  writeFileSync(
    config,
    JSON.stringify({
      controlPlane: { access: { type: 'kubeconfig', context: env.controlPlane, path: env.kubeconfig } },
      store: { aws: { region: env.aws.region, prefix, endpoint: env.aws.endpoint } },
      dataPlanes: Array.from({ length: N }, (_, i) => ({
        id: `dp${i}`,
        access: { type: 'token', endpoint: `https://127.0.0.1:${port}`, caFile: env.clusters[env.dataPlanes[0]!]!.caFile, tokenFile },
        labels: { team1: 1 },
      })),
    }),
  );
});

describe('the CLI over 5,000 data planes: bounded output', () => {
  it('doctor: the control plane in full, the first 50 failing data planes, the other 4,950 counted; under 64 KB in all', async () => {
    // Act
    const r = await credsync(['doctor', '--config', config]);
    // Assess
    expect(r.code).toBe(1);
    expect(r.stdout.length + r.stderr.length).toBeLessThan(BOUND);
    const lines = r.stdout.split('\n');
    expect(lines[0]).toMatch(/^✓ control plane \(https:\/\/127\.0\.0\.1:\d+\)$/);
    expect(lines.filter((l) => /^✗ data plane dp\d+ /.test(l))).toHaveLength(50);
    expect(r.stdout).toContain(`… and ${N - 50} more data planes not listed: ${N - 50} failed at reachable (--json lists every one)`);
    expect(r.stdout).toContain('doctor: PROBLEMS FOUND');
    // --json keeps every data plane: a program reads it.
    const json = await credsync(['doctor', '--config', config, '--json']);
    expect((JSON.parse(json.stdout) as { clusters: unknown[] }).clusters).toHaveLength(N + 1);
  }, 300_000);

  it('sync --dry-run: the report lists 50 failed data planes and counts the rest; the log has 50 "data plane failed" lines and says how many more; nothing written', async () => {
    // Prepare
    const before = await writableState(env, prefix);
    // Act
    const r = await credsync(['sync', '--dry-run', '--config', config]);
    // Assess
    expect(r.code).toBe(1);
    expect(r.stdout.length + r.stderr.length).toBeLessThan(BOUND);
    expect(r.stdout.split('\n').filter((l) => /^ {2}✗ dp\d+: failed \[CLUSTER_UNREACHABLE\]/.test(l))).toHaveLength(50);
    expect(r.stdout).toContain(`  … and ${N - 50} more data planes not listed: ${N - 50} failed (--json lists every one)`);
    const log = r.stderr.split('\n');
    expect(log.filter((l) => l.startsWith('error data plane failed {'))).toHaveLength(50);
    expect(log).toContain(`error … and ${N - 50} more "data plane failed" lines not shown (the report counts them; --verbose shows every one)`);
    expect(await writableState(env, prefix)).toEqual(before);
  }, 300_000);

  it('status: 5,000 store reads at most `concurrency` at once (all at once timed the store out), 60 rows and a count', async () => {
    // Act
    const r = await credsync(['status', '--config', config]);
    // Assess: nothing stored under this prefix: every data plane read, none failed.
    expect([r.code, r.stderr]).toEqual([0, '']);
    expect(r.stdout.length).toBeLessThan(BOUND);
    expect(r.stdout.split('\n').filter((l) => l.startsWith('· dp'))).toHaveLength(50);
    expect(r.stdout).toContain(`… and ${N - 50} more data planes not listed: ${N - 50} with nothing stored (--json lists every one)`);
  }, 300_000);

  it('a --cluster value with an escape sequence and a line break is echoed escaped, and the configured ids are the first 20 and a count', async () => {
    // Act
    const r = await credsync(['sync', '--dry-run', '--config', config, '--cluster', HOSTILE]);
    // Assess
    expect(r.code).toBe(2);
    expect(r.stdout).toBe('');
    expect(r.stderr).toBe(
      `credsync: unknown data plane(s): dp1\\x1b[31mRED\\nFAKE LOG LINE (configured: ${Array.from({ length: 20 }, (_, i) => `dp${i}`).join(', ')} and ${N - 20} more)\n`,
    );
    expect(r.stderr).not.toMatch(CONTROL);
  }, 300_000);
});
