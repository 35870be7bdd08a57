/**
 * The real Helm CLI against the local environment's control plane, for the scenarios where
 * credsync lives next to a Helm release (issue #18): `helm install`/`upgrade` of the test chart
 * test/charts/flyte-core-lite, which writes the two clusters.yaml ConfigMaps and the flyteadmin /
 * syncresources Deployments the way flyte-core does.
 *
 * Helm is built from its Go module into the cache on first use (ensureHelm in ./build.ts). Each
 * call runs with the environment's admin kubeconfig and context, and with Helm's own config, cache
 * and data directories in a private temporary directory (nothing of the user's Helm set-up is read
 * or written).
 */
import { execFile } from 'node:child_process';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { ensureHelm } from './build.ts';
import type { EnvInfo } from './testenv.ts';

/** The test chart: flyte-core's ConfigMaps and Deployments, and nothing else. */
export const TEST_CHART = path.join(path.dirname(fileURLToPath(import.meta.url)), '..', 'charts', 'flyte-core-lite');

let home: string | undefined;

export interface HelmResult {
  stdout: string;
  stderr: string;
}

/**
 * Runs `helm <args>` against the environment's control plane (admin identity).
 *
 * @param opts.timeoutMs kills Helm after this long (default 180 s)
 * @throws Error with Helm's exit code and stderr when it fails
 */
export async function helm(env: EnvInfo, args: string[], opts: { timeoutMs?: number } = {}): Promise<HelmResult> {
  const bin = await ensureHelm();
  const dir = (home ??= mkdtempSync(path.join(tmpdir(), 'credsync-helm-')));
  const cluster = env.clusters[env.controlPlane]!;
  return new Promise((resolve, reject) => {
    execFile(
      bin,
      [...args, '--kubeconfig', env.kubeconfig, '--kube-context', cluster.context],
      {
        timeout: opts.timeoutMs ?? 180_000,
        maxBuffer: 16 * 1024 * 1024,
        env: {
          PATH: process.env.PATH ?? '',
          HOME: dir,
          HELM_CONFIG_HOME: path.join(dir, 'config'),
          HELM_CACHE_HOME: path.join(dir, 'cache'),
          HELM_DATA_HOME: path.join(dir, 'data'),
        },
      },
      (err, stdout, stderr) => {
        if (err) reject(new Error(`helm ${args.slice(0, 2).join(' ')} failed (${err.code ?? err.signal ?? err.message}): ${stderr.trim().slice(-2000)}`));
        else resolve({ stdout, stderr });
      },
    );
  });
}

/**
 * `helm upgrade --install RELEASE TEST_CHART -n NAMESPACE --create-namespace -f FILE...`, waiting
 * for nothing (the tests wait for the rollouts they care about).
 */
export function helmUpgradeInstall(env: EnvInfo, release: string, namespace: string, valuesFiles: string[] = [], set: string[] = []): Promise<HelmResult> {
  return helm(env, [
    'upgrade', '--install', release, TEST_CHART,
    '--namespace', namespace, '--create-namespace',
    ...valuesFiles.flatMap((f) => ['-f', f]),
    ...set.flatMap((s) => ['--set', s]),
  ]);
}
