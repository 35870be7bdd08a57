/**
 * The labels use cases: connecting to FlyteAdmin from the configuration, the routing guard as a
 * step of the sync (before the control plane is written) and `credsync labels plan|apply`.
 */
import { readFile } from 'node:fs/promises';
import type { Config } from '../config/schema.ts';
import { CredsyncError, describeError, errorCode } from '../errors.ts';
import type { ControlPlaneApi } from '../kube/ports.ts';
import type { SecretStore } from '../stores/types.ts';
import type { Log } from '../util/log.ts';
import type { FlyteAdminClient, LabelAttribute } from './admin.ts';
import { LabelRoutingError, type RoutingProblem } from './errors.ts';
import { assignedLabels, checkRouting, clustersOf, unroutable, type AssignedLabel } from './guard.ts';
import { applyLabels, type LabelsAdmin, type LabelsReport } from './plan.ts';
import type { FlyteAdminConnection } from '../config/labels.ts';
import type { YamlParse } from '../controlplane/render.ts';
import { loggedIds } from '../util/bounded.ts';

/**
 * A FlyteAdmin client for the configuration's `labels.flyteadmin`: TLS with its CA (or plaintext
 * when `insecure`), and OAuth2 client credentials whose secret is read from the secret store.
 *
 * @throws CredsyncError CONFIG_INVALID when the CA file cannot be read
 */
export async function connectFlyteAdmin(conn: FlyteAdminConnection, store: SecretStore, signal?: AbortSignal): Promise<FlyteAdminClient> {
  let ca: string | undefined = conn.caData;
  if (conn.caFile) {
    try {
      ca = await readFile(conn.caFile, 'utf8');
    } catch (err) {
      throw new CredsyncError('CONFIG_INVALID', `labels.flyteadmin.caFile: cannot read ${conn.caFile}: ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}`);
    }
  }
  const auth = conn.auth;
  // Loaded on first use: the IDL and grpc-js cost ~0.5 s of start-up a sync without labels never pays.
  const { FlyteAdminClient } = await import('./admin.ts');
  return new FlyteAdminClient({
    endpoint: conn.endpoint,
    insecure: conn.insecure,
    ca,
    timeoutMs: conn.timeoutSeconds * 1000,
    signal,
    auth: auth && {
      clientId: auth.clientId,
      tokenUrl: auth.tokenUrl,
      scopes: auth.scopes,
      audience: auth.audience,
      clientSecret: async () => {
        if (!store.readSecret) throw new CredsyncError('UNSUPPORTED', `the ${store.kind} store cannot read the FlyteAdmin client secret`);
        const v = await store.readSecret(auth.clientSecretName);
        if (!v) throw new CredsyncError('FLYTEADMIN_AUTH', `FlyteAdmin client secret "${auth.clientSecretName}" not found in ${store.kind} (labels.flyteadmin.auth.clientSecretName)`);
        return v;
      },
    },
  });
}

/** The clusters.yaml of every configured control-plane ConfigMap, as it is now. */
export async function liveClusters(api: ControlPlaneApi, cfg: Config): Promise<Array<{ where: string; clusters: Record<string, unknown> }>> {
  const cp = cfg.controlPlane;
  return Promise.all(
    cp.configMaps.map(async (name) => {
      const cm = await api.getConfigMap(cp.namespace, name);
      return { where: `ConfigMap ${cp.namespace}/${name}`, clusters: clustersOf(cm?.data[cp.configKey]) };
    }),
  );
}

export interface LabelsStepReport extends LabelsReport {
  /** Labels found in FlyteAdmin that did not route before this run either (not refused; fix them by hand). */
  alreadyBroken: RoutingProblem[];
}

/** The labels part of a sync: the guard for the control-plane write, then labels-as-code. */
export interface LabelsStep {
  /** Throws LabelRoutingError when `next` (a clusters.yaml about to be written) breaks an assigned label. */
  guard(next: string, before: string | undefined, where: string, parse?: YamlParse): void;
  /** Plans (dry run) or applies the configured assignments; undefined when none are configured. */
  finish(dryRun: boolean): Promise<{ report?: LabelsStepReport; error?: { code: string; reason: string } }>;
}

/**
 * Prepares the guard: the configured assignments, plus every label row in FlyteAdmin when it is
 * reachable (when it is not, the guard works from the configuration and the step reports why).
 */
export async function startLabelsStep(cfg: Config, connect: (() => Promise<LabelsAdmin & { close(): void }>) | undefined, log: Log): Promise<LabelsStep> {
  const labels = cfg.labels;
  let admin: (LabelsAdmin & { close(): void }) | undefined;
  let found: LabelAttribute[] | undefined;
  let readError: { code: string; reason: string } | undefined;
  if (labels && connect) {
    try {
      admin = await connect();
      found = await admin.listLabels();
    } catch (err) {
      readError = { code: errorCode(err), reason: describeError(err) };
      log.warn('FlyteAdmin not readable: the routing guard checks the configured assignments only', readError);
    }
  }
  const assigned: AssignedLabel[] = assignedLabels(labels?.assignments ?? [], found);
  const alreadyBroken = new Map<string, RoutingProblem>();
  return {
    guard(next, before, where, parse) {
      const r = checkRouting(clustersOf(next, parse), assigned, before === undefined ? undefined : clustersOf(before, parse));
      for (const p of r.alreadyBroken) alreadyBroken.set(p.scope, p);
      if (r.refused.length) throw new LabelRoutingError(r.refused.map((p) => ({ ...p, reason: `${p.reason} [${where}]` })));
      if (r.alreadyBroken.length) log.warn('labels in FlyteAdmin that route to every cluster (already before this run)', { labelCount: r.alreadyBroken.length, labels: loggedIds(r.alreadyBroken.map((p) => `${p.scope}=${p.label}`)) });
    },
    async finish(dryRun) {
      try {
        if (!labels || !labels.assignments.length) return {};
        if (readError || !admin || !found) return { error: readError ?? { code: 'FLYTEADMIN_UNREACHABLE', reason: 'FlyteAdmin was not read' } };
        const report = await applyLabels(admin, labels.assignments, { dryRun, current: found });
        for (const f of report.foreign) log.info('execution-cluster label not managed by flyte-credsync, left as it is', { ...f });
        return { report: { ...report, alreadyBroken: [...alreadyBroken.values()] } };
      } catch (err) {
        return { error: { code: errorCode(err), reason: describeError(err) } };
      } finally {
        admin?.close();
      }
    },
  };
}

/**
 * `credsync labels plan|apply`: refuses (writing nothing) when a configured assignment names a
 * label that does not route in the control plane's clusters.yaml as it is now; otherwise plans
 * and, unless `dryRun`, applies.
 *
 * @throws LabelRoutingError, FlyteAdminError, CredsyncError CONFIG_INVALID (no `labels` section)
 */
export async function runLabels(
  cfg: Config,
  deps: { controlPlane(): Promise<ControlPlaneApi>; flyteAdmin(): Promise<LabelsAdmin & { close(): void }> },
  opts: { dryRun: boolean },
): Promise<LabelsReport> {
  if (!cfg.labels) throw new CredsyncError('CONFIG_INVALID', 'the configuration has no labels section (labels.flyteadmin and labels.assignments)');
  const assignments = cfg.labels.assignments;
  const live = await liveClusters(await deps.controlPlane(), cfg);
  const problems: RoutingProblem[] = [];
  for (const a of assignedLabels(assignments)) {
    for (const l of live) {
      const reason = unroutable(l.clusters, a.label);
      if (reason) problems.push({ ...a, reason: `${reason} [${l.where}]` });
    }
  }
  if (problems.length) throw new LabelRoutingError(problems);
  const admin = await deps.flyteAdmin();
  try {
    return await applyLabels(admin, assignments, { dryRun: opts.dryRun });
  } finally {
    admin.close();
  }
}
