/**
 * `credsync doctor`: from wherever it runs (a laptop, a Lambda in a VPC, a Cloud Function behind a
 * connector), tells per cluster whether the sync can do its job there, and touches nothing:
 *
 * 1. **access**: the configured access resolves (kubeconfig context, token/CA files, EKS
 *    DescribeCluster, GKE getCluster);
 * 2. **reachable**: a TCP connection to the API server's host and port opens;
 * 3. **tls**: the TLS handshake verifies against the configured (or cloud-reported) CA;
 * 4. **identity**: the API server authenticates the sync's identity (SelfSubjectReview);
 * 5. **authorized**: that identity may do exactly what the sync does there
 *    (SelfSubjectAccessReview per permission; deploy/*.yaml grants them);
 * 6. **credential** (data planes): the flyteadmin credential the store holds for it, asked as
 *    itself, authenticates as the expected ServiceAccount and may do what flyteadmin does there
 *    (create, get and delete FlyteWorkflows; get and create namespaces); the missing ones named.
 *
 * and for the store, that it answers and lets the sync read its entries (one read of a data
 * plane's entry; "not found" is fine). Reviews persist nothing; nothing is written. The only
 * values read are the stored credentials (step 6, used as the credential and never shown); no
 * Secret or ConfigMap is read for its value. Each check stops at the first failure of its cluster: a
 * cluster that is unreachable is not asked for reviews.
 *
 * A data plane that rotates (lib/rotation) is also asked for what rotation does there
 * (deploy/dataplane-rotation-rbac.yaml). Every data plane is asked for what draining and retiring
 * do there (deploy/dataplane-lifecycle-rbac.yaml: list FlyteWorkflows in every namespace, delete
 * the token Secret): a warning, as a sync does not need it, unless it is configured draining, and the control plane for the rollout wait's reads. When
 * execution-cluster labels are configured, FlyteAdmin is checked too: its OAuth2 token is fetched
 * (when auth is configured) and the labels are read once (ListMatchableAttributes); nothing is
 * written there either.
 *
 * **owners**: who else manages each object the sync writes on the control plane (the credentials
 * Secret, the ConfigMaps, the Deployments): their Helm, Argo CD and Flux markers, read as metadata
 * only (the Secret's data is never fetched), the consequence, and the `controlPlane.mode` to
 * choose (lib/controlplane/owners.ts).
 */
import * as net from 'node:net';
import * as tls from 'node:tls';
import type { ClusterConnection } from '../clusters/access.ts';
import type { Config } from '../config/schema.ts';
import { describeError, errorCode } from '../errors.ts';
import { KubeHttp } from '../kube/http2.ts';
import { describeAction, mayDo, whoAmI, type ReviewedAction } from '../kube/reviews.ts';
import { statusOf } from '../kube/errors.ts';
import { tokenConnection } from '../clusters/access.ts';
import { expectedIdentity, FLYTEADMIN_RIGHTS } from '../dataplane/verify.ts';
import { shortFingerprint } from '../stores/types.ts';
import type { SecretStore } from '../stores/types.ts';
import { timeLeft } from '../util/abort.ts';
import { mapBounded } from '../util/log.ts';
import { boundedList, countedRest, echo, pickRows } from '../util/bounded.ts';
import type { FlyteAdminClient } from '../labels/admin.ts';
import { connectFlyteAdmin } from '../labels/run.ts';
import type { FlyteAdminConnection } from '../config/labels.ts';
import type { RotationSettings } from '../config/rotation.ts';
import { settingsFor } from '../rotation/config.ts';
import { assessOwnership, formatOwnership, type ObjectOwnership } from '../controlplane/owners.ts';
import { readMetadata } from '../kube/metadata.ts';

export type CheckName = 'access' | 'reachable' | 'tls' | 'identity' | 'authorized' | 'credential';
/** The checks of the control plane, in order. */
export const CHECKS: readonly CheckName[] = ['access', 'reachable', 'tls', 'identity', 'authorized'];
/** A data plane's: also **credential**, the stored flyteadmin credential's own rights there ({@link checkStoredCredential}). */
export const DATA_PLANE_CHECKS: readonly CheckName[] = [...CHECKS, 'credential'];

export interface CheckResult {
  check: CheckName | 'store' | 'flyteadmin';
  ok: boolean;
  /** What was found (an identity, a server), or why it failed. Never a secret. */
  detail: string;
}

export interface ClusterDiagnosis {
  /** `control plane` or `data plane <id>`. */
  cluster: string;
  server?: string;
  ok: boolean;
  checks: CheckResult[];
  /**
   * A data plane whose identity authenticated: may it do what draining and retiring do there?
   * Not `ok` is a warning (`required` false: a sync does not need it) or, for a data plane
   * configured draining, a failure.
   */
  lifecycle?: { ok: boolean; required: boolean; detail: string };
}

export interface DoctorReport {
  ok: boolean;
  clusters: ClusterDiagnosis[];
  store: CheckResult & { kind: string };
  /** When execution-cluster labels are configured: FlyteAdmin answers, and authenticates the sync. */
  flyteadmin?: CheckResult & { endpoint: string };
  /** Who else manages the objects the sync writes on the control plane, and what that means in this mode. */
  owners: OwnersCheck;
}

export interface OwnersCheck {
  /** No object is a problem (another tool owns the Secret, a ConfigMap or Deployment is missing), and all could be read. */
  ok: boolean;
  mode: Config['controlPlane']['mode'];
  /** Each object, in the order Secret, ConfigMaps, Deployments. */
  objects: ObjectOwnership[];
  /** Why the objects could not be read (then `objects` is empty). */
  error?: string;
}

/** A permission the sync needs, as a SelfSubjectAccessReview asks it. */
export type Permission = ReviewedAction & {
  namespace: string;
  /** What needs it, when not every sync does (shown with a denied permission). */
  for?: 'rotation' | 'lifecycle';
};

/**
 * What draining and retiring do on a data plane (deploy/dataplane-lifecycle-rbac.yaml): count its
 * unfinished executions (list FlyteWorkflows in every namespace) and revoke its credential (delete
 * the token Secret; a rotating data plane's generations are dataplane-rotation-rbac.yaml's).
 */
export function lifecyclePermissions(dp: Config['dataPlanes'][number]): Permission[] {
  return [
    { verb: 'list', group: 'flyte.lyft.com', resource: 'flyteworkflows', namespace: '', for: 'lifecycle' },
    { verb: 'delete', group: '', resource: 'secrets', namespace: dp.namespace, name: dp.tokenSecret, for: 'lifecycle' },
  ];
}

/**
 * What the sync does on a data plane (deploy/dataplane-rbac.yaml) and, when it rotates, what
 * rotation adds (deploy/dataplane-rotation-rbac.yaml): read and delete the per-generation Secrets
 * (their names are not known in advance, so namespace-wide) and, in tokenRequest mode, TokenRequest
 * for the ServiceAccount.
 */
export function dataPlanePermissions(dp: Config['dataPlanes'][number], rotation?: RotationSettings): Permission[] {
  const ns = dp.namespace;
  return [
    { verb: 'get', group: '', resource: 'secrets', namespace: ns, name: dp.tokenSecret },
    { verb: 'create', group: '', resource: 'secrets', namespace: ns },
    { verb: 'get', group: '', resource: 'serviceaccounts', namespace: ns, name: dp.serviceAccount },
    ...(rotation
      ? [
          { verb: 'get', group: '', resource: 'secrets', namespace: ns, for: 'rotation' as const },
          { verb: 'delete', group: '', resource: 'secrets', namespace: ns, for: 'rotation' as const },
          // TokenRequest is the `token` subresource: asked as such, so that webhook authorizers (EKS, GKE) understand it too.
          ...(rotation.mode === 'tokenRequest'
            ? [{ verb: 'create', group: '', resource: 'serviceaccounts', subresource: 'token', namespace: ns, name: dp.serviceAccount, for: 'rotation' as const }]
            : []),
        ]
      : []),
  ];
}

/**
 * What the sync does on the control plane (deploy/controlplane-rbac.yaml); with `rotating`, also
 * the rollout wait's reads (ReplicaSets and Pods).
 */
export function controlPlanePermissions(cp: Config['controlPlane'], rotating = false): Permission[] {
  const ns = cp.namespace;
  return [
    { verb: 'get', group: '', resource: 'secrets', namespace: ns, name: cp.credentialsSecret },
    { verb: 'update', group: '', resource: 'secrets', namespace: ns, name: cp.credentialsSecret },
    ...cp.configMaps.flatMap((name) => [
      { verb: 'get', group: '', resource: 'configmaps', namespace: ns, name },
      { verb: 'update', group: '', resource: 'configmaps', namespace: ns, name },
    ]),
    ...cp.deployments.flatMap((name) => [
      { verb: 'get', group: 'apps', resource: 'deployments', namespace: ns, name },
      { verb: 'patch', group: 'apps', resource: 'deployments', namespace: ns, name },
    ]),
    { verb: 'get', group: 'coordination.k8s.io', resource: 'leases', namespace: ns, name: cp.lease.name },
    { verb: 'update', group: 'coordination.k8s.io', resource: 'leases', namespace: ns, name: cp.lease.name },
    { verb: 'create', group: 'events.k8s.io', resource: 'events', namespace: ns },
    ...(rotating
      ? [
          { verb: 'list', group: 'apps', resource: 'replicasets', namespace: ns, for: 'rotation' as const },
          { verb: 'list', group: '', resource: 'pods', namespace: ns, for: 'rotation' as const },
        ]
      : []),
  ];
}

const describePermission = (p: Permission) => `${describeAction(p)}${p.for ? ` (${p.for})` : ''}`;

export interface DoctorDeps {
  config: Config;
  store: SecretStore;
  /** Resolves a cluster's access (lib/clusters/access.ts connect). */
  connect(what: string, access: Config['controlPlane']['access']): Promise<ClusterConnection>;
  /** Per network step. @default 10 000 */
  timeoutMs?: number;
  /**
   * Connects to FlyteAdmin when labels are configured.
   * @default lib/labels/run.ts connectFlyteAdmin with the configuration and the store
   */
  flyteAdmin?: () => Promise<Pick<FlyteAdminClient, 'endpoint' | 'listLabels' | 'close'>>;
}

/** The CA the client trusts for this server, from the resolved kubeconfig (undefined: system roots). */
async function caOf(conn: ClusterConnection): Promise<{ ca?: string; skip: boolean }> {
  if (!('kubeConfig' in conn)) return { ca: conn.caPem, skip: false };
  const c = conn.kubeConfig.getCurrentCluster();
  if (!c) return { skip: false };
  if (c.skipTLSVerify) return { skip: true };
  if (c.caData) return { ca: Buffer.from(c.caData, 'base64').toString('utf8'), skip: false };
  if (c.caFile) {
    const { readFile } = await import('node:fs/promises');
    return { ca: await readFile(c.caFile, 'utf8'), skip: false };
  }
  return { skip: false };
}

function hostPort(server: string): { host: string; port: number } {
  const u = new URL(server);
  return { host: u.hostname.replace(/^\[|\]$/g, ''), port: Number(u.port || (u.protocol === 'https:' ? 443 : 80)) };
}

function tcpCheck(host: string, port: number, timeoutMs: number): Promise<void> {
  return new Promise((resolve, reject) => {
    const s = net.connect({ host, port });
    const done = (err?: Error) => {
      s.destroy();
      if (err) reject(err);
      else resolve();
    };
    s.setTimeout(timeoutMs, () => done(new Error(`no answer within ${timeoutMs} ms (a firewall or security group dropping packets?)`)));
    s.once('connect', () => done());
    s.once('error', (e: NodeJS.ErrnoException) => done(new Error(e.code ? `${e.code}` : e.message)));
  });
}

function tlsCheck(host: string, port: number, ca: string | undefined, timeoutMs: number): Promise<string> {
  return new Promise((resolve, reject) => {
    const s = tls.connect({ host, port, ...(ca ? { ca } : {}), servername: net.isIP(host) ? undefined : host, rejectUnauthorized: true });
    const done = (err?: Error, detail = '') => {
      s.destroy();
      if (err) reject(err);
      else resolve(detail);
    };
    s.setTimeout(timeoutMs, () => done(new Error(`no TLS handshake within ${timeoutMs} ms`)));
    s.once('secureConnect', () => done(undefined, `${s.getProtocol() ?? 'TLS'}, certificate verified against ${ca ? 'the configured CA' : 'the system roots'}`));
    s.once('error', (e: NodeJS.ErrnoException) =>
      done(new Error(e.code === 'UNABLE_TO_VERIFY_LEAF_SIGNATURE' || e.code === 'SELF_SIGNED_CERT_IN_CHAIN' || e.code === 'DEPTH_ZERO_SELF_SIGNED_CERT'
        ? `${e.code}: the server's certificate is not signed by ${ca ? 'the configured CA' : 'a system root'}`
        : e.code === 'ERR_TLS_CERT_ALTNAME_INVALID' ? `${e.code}: the certificate does not name ${host}` : `${e.code ?? ''} ${e.message}`.trim())),
    );
  });
}

async function diagnoseCluster(
  what: string,
  access: Config['controlPlane']['access'],
  permissions: Permission[],
  expectedUser: string | undefined,
  deps: DoctorDeps,
  lifecycle?: { permissions: Permission[]; required: boolean },
  /** A data plane's last check, once the others passed: the stored credential (server: the API server the sync reaches). */
  credential?: (server: string, timeoutMs: number) => Promise<CheckResult>,
): Promise<ClusterDiagnosis> {
  // Each step ends at its own timeout or the invocation's deadline (lib/util/abort.ts), whichever comes first.
  const stepMs = () => Math.max(1, Math.min(deps.timeoutMs ?? 10_000, timeLeft()));
  const checks: CheckResult[] = [];
  const out = (server?: string): ClusterDiagnosis => ({ cluster: what, ...(server ? { server } : {}), ok: checks.every((c) => c.ok), checks });
  let conn: ClusterConnection;
  try {
    conn = await deps.connect(what, access);
    checks.push({ check: 'access', ok: true, detail: `${access.type} access resolves to ${conn.server}` });
  } catch (err) {
    checks.push({ check: 'access', ok: false, detail: `[${errorCode(err)}] ${describeError(err)}` });
    return out();
  }
  const { host, port } = hostPort(conn.server);
  try {
    await tcpCheck(host, port, stepMs());
    checks.push({ check: 'reachable', ok: true, detail: `TCP ${host}:${port} open` });
  } catch (err) {
    checks.push({ check: 'reachable', ok: false, detail: `TCP ${host}:${port}: ${(err as Error).message}` });
    return out(conn.server);
  }
  try {
    const { ca, skip } = await caOf(conn);
    if (skip) checks.push({ check: 'tls', ok: false, detail: 'insecure-skip-tls-verify is set: the server is not authenticated' });
    else checks.push({ check: 'tls', ok: true, detail: await tlsCheck(host, port, ca, stepMs()) });
  } catch (err) {
    checks.push({ check: 'tls', ok: false, detail: (err as Error).message });
  }
  if (!checks.at(-1)!.ok) return out(conn.server);
  const http = new KubeHttp(conn);
  try {
    const info = await whoAmI(http, what, conn.server, stepMs());
    const user = info.username ?? '(unknown)';
    const groups = (info.groups ?? []).filter((g) => g !== 'system:authenticated');
    const ok = expectedUser === undefined || user === expectedUser;
    checks.push({ check: 'identity', ok, detail: ok ? `authenticated as ${echo(user)}${groups.length ? ` (groups ${boundedList(groups)})` : ''}` : `authenticated as ${echo(user)}, expected ${expectedUser}` });
  } catch (err) {
    checks.push({ check: 'identity', ok: false, detail: `[${errorCode(err)}] ${describeError(err)}` });
    return out(conn.server);
  }
  try {
    const answers = await mayDo(http, what, conn.server, permissions, stepMs());
    const denied = permissions.filter((_, i) => !answers[i]).map(describePermission);
    checks.push(
      denied.length
        ? {
            check: 'authorized',
            ok: false,
            detail: `may not ${denied.join('; ')} (apply deploy/*.yaml${permissions.some((p, i) => !answers[i] && p.for === 'rotation') ? ', dataplane-rotation-rbac.yaml on a rotating data plane,' : ''} and bind this identity)`,
          }
        : { check: 'authorized', ok: true, detail: `may ${permissions.length} of ${permissions.length} actions the sync needs` },
    );
  } catch (err) {
    checks.push({ check: 'authorized', ok: false, detail: `[${errorCode(err)}] ${describeError(err)}` });
  }
  if (credential && checks.at(-1)!.ok) checks.push(await credential(conn.server, stepMs()));
  if (!lifecycle) return out(conn.server);
  let life: NonNullable<ClusterDiagnosis['lifecycle']>;
  try {
    const answers = await mayDo(http, what, conn.server, lifecycle.permissions, stepMs());
    const denied = lifecycle.permissions.filter((_, i) => !answers[i]).map(describePermission);
    life = denied.length
      ? { ok: false, required: lifecycle.required, detail: `may not ${denied.join('; ')}: draining and retiring need it${lifecycle.required ? ' (it is configured draining)' : ''} (apply deploy/dataplane-lifecycle-rbac.yaml)` }
      : { ok: true, required: lifecycle.required, detail: `may ${lifecycle.permissions.length} of ${lifecycle.permissions.length} actions draining and retiring need` };
  } catch (err) {
    life = { ok: false, required: lifecycle.required, detail: `[${errorCode(err)}] ${describeError(err)}` };
  }
  const d = out(conn.server);
  return { ...d, ok: d.ok && (life.ok || !life.required), lifecycle: life };
}

/**
 * The flyteadmin credential the store holds for a data plane, asked as itself at the API server the
 * sync reaches (what the sync publishes is what flyteadmin uses): whom it authenticates as
 * (SelfSubjectReview) and whether it may do what flyteadmin does there ({@link FLYTEADMIN_RIGHTS},
 * one SelfSubjectAccessReview each). Names what is missing; never the token (it is registered for
 * redaction before any request). Nothing stored yet is not a failure.
 */
export async function checkStoredCredential(dp: Config['dataPlanes'][number], store: SecretStore, server: string, timeoutMs: number): Promise<CheckResult> {
  const fail = (detail: string): CheckResult => ({ check: 'credential', ok: false, detail });
  let stored;
  try {
    stored = await store.get(dp.id);
  } catch (err) {
    return fail(`the store could not be read: [${errorCode(err)}] ${describeError(err)}`);
  }
  if (!stored) return { check: 'credential', ok: true, detail: 'nothing stored yet (the first sync stores it)' };
  const r = stored.record;
  const which = `the stored credential ${shortFingerprint(r.fingerprint)}`;
  const http = new KubeHttp(tokenConnection(server, r.caCert, r.token));
  const expected = expectedIdentity(dp);
  try {
    const [who, may] = await Promise.all([whoAmI(http, `data plane ${dp.id}`, server, timeoutMs), mayDo(http, `data plane ${dp.id}`, server, FLYTEADMIN_RIGHTS, timeoutMs)]);
    if (who.username !== expected) return fail(`${which} authenticates as ${echo(who.username ?? '(unknown)')}, expected ${expected} (the next sync replaces it)`);
    const missing = FLYTEADMIN_RIGHTS.filter((_, i) => !may[i]).map(describeAction);
    return missing.length
      ? fail(`${which} (${expected}) may not ${missing.join('; ')}: flyteadmin cannot run or abort executions there (bind it to the flyte-core chart's flyteadmin ClusterRole)`)
      : { check: 'credential', ok: true, detail: `${which} authenticates as ${expected} and may do the ${FLYTEADMIN_RIGHTS.length} actions flyteadmin needs` };
  } catch (err) {
    if (statusOf(err) === 401) return fail(`${which} does not authenticate (HTTP 401): revoked, or its token Secret or ServiceAccount was deleted; the next sync replaces it`);
    return fail(`[${errorCode(err)}] ${describeError(err)}`);
  }
}

/**
 * Diagnoses the control plane, every data plane (at most `config.concurrency` at once) and the
 * store. Never throws for a failed check: each is reported.
 */
export async function runDoctor(deps: DoctorDeps): Promise<DoctorReport> {
  const cfg = deps.config;
  const rotating = cfg.dataPlanes.some((dp) => settingsFor(cfg, dp));
  const control = diagnoseCluster('control plane', cfg.controlPlane.access, controlPlanePermissions(cfg.controlPlane, rotating), undefined, deps);
  const dataPlanes = mapBounded(cfg.dataPlanes, cfg.concurrency, (dp) =>
    diagnoseCluster(`data plane ${dp.id}`, dp.access, dataPlanePermissions(dp, settingsFor(cfg, dp)), undefined, deps, { permissions: lifecyclePermissions(dp), required: dp.state === 'draining' }, (server, ms) =>
      checkStoredCredential(dp, deps.store, server, ms),
    ),
  );
  const flyteadmin = cfg.labels ? checkFlyteAdmin(cfg.labels.flyteadmin, deps) : undefined;
  const store = (async () => {
    const probe = cfg.dataPlanes[0]?.id ?? 'doctor-probe';
    try {
      const cur = await deps.store.get(probe);
      return { check: 'store' as const, kind: deps.store.kind, ok: true, detail: `${deps.store.entryName(probe)}: ${cur ? 'readable' : 'not created yet (the first sync creates it)'}` };
    } catch (err) {
      return { check: 'store' as const, kind: deps.store.kind, ok: false, detail: `[${errorCode(err)}] ${describeError(err)}` };
    }
  })();
  const owners = checkOwners(deps);
  const clusters = [await control, ...(await dataPlanes)];
  const s = await store;
  const fa = await flyteadmin;
  const o = await owners;
  return { ok: clusters.every((c) => c.ok) && s.ok && (fa?.ok ?? true) && o.ok, clusters, store: s, ...(fa ? { flyteadmin: fa } : {}), owners: o };
}

/**
 * Reads the metadata (never the data) of the Secret, the ConfigMaps and the Deployments the sync
 * writes, and assesses who else manages each (lib/controlplane/owners.ts).
 */
export async function checkOwners(deps: DoctorDeps): Promise<OwnersCheck> {
  const cp = deps.config.controlPlane;
  const ns = cp.namespace;
  try {
    const conn = await deps.connect('control plane', cp.access);
    const http = new KubeHttp(conn);
    const read = (kind: 'Secret' | 'ConfigMap' | 'Deployment', name: string) => readMetadata(http, 'control plane', conn.server, kind, ns, name, deps.timeoutMs ?? 10_000);
    const [secret, cms, deployments] = await Promise.all([
      read('Secret', cp.credentialsSecret),
      Promise.all(cp.configMaps.map((n) => read('ConfigMap', n))),
      Promise.all(cp.deployments.map((n) => read('Deployment', n))),
    ]);
    const objects: ObjectOwnership[] = [];
    const secretName = `Secret ${ns}/${cp.credentialsSecret}`;
    objects.push(secret ? assessOwnership(secretName, 'secret', secret, cp.mode) : { object: secretName, role: 'secret', owners: [], severity: 'ok', consequence: 'not created yet (the first sync creates it)' });
    cp.configMaps.forEach((n, i) => {
      const name = `ConfigMap ${ns}/${n}`;
      const m = cms[i];
      objects.push(m ? assessOwnership(name, 'configmap', m, cp.mode) : { object: name, role: 'configmap', owners: [], severity: 'problem', consequence: 'does not exist: the sync fails (it comes with the flyte-core chart; check controlPlane.configMaps)' });
    });
    cp.deployments.forEach((n, i) => {
      const name = `Deployment ${ns}/${n}`;
      const m = deployments[i];
      objects.push(m ? assessOwnership(name, 'deployment', m, cp.mode) : { object: name, role: 'deployment', owners: [], severity: 'problem', consequence: 'does not exist: its restart fails (check controlPlane.deployments)' });
    });
    return { ok: objects.every((o) => o.severity !== 'problem'), mode: cp.mode, objects };
  } catch (err) {
    return { ok: false, mode: cp.mode, objects: [], error: `[${errorCode(err)}] ${describeError(err)}` };
  }
}

/**
 * FlyteAdmin, read-only: connects as the sync does (the client secret from the store), which
 * fetches the OAuth2 token when auth is configured, and reads the execution-cluster labels once.
 */
async function checkFlyteAdmin(conn: FlyteAdminConnection, deps: DoctorDeps): Promise<CheckResult & { endpoint: string }> {
  const fail = (err: unknown) => ({ check: 'flyteadmin' as const, endpoint: conn.endpoint, ok: false, detail: `[${errorCode(err)}] ${describeError(err)}` });
  let admin;
  try {
    admin = await (deps.flyteAdmin ?? (() => connectFlyteAdmin(conn, deps.store)))();
  } catch (err) {
    return fail(err);
  }
  try {
    const rows = await admin.listLabels();
    const how = conn.insecure ? 'plaintext' : `TLS (${conn.caFile || conn.caData ? 'the configured CA' : 'the system roots'})`;
    const auth = conn.auth ? `, authenticated as OAuth2 client ${conn.auth.clientId}` : ', no auth';
    return { check: 'flyteadmin', endpoint: conn.endpoint, ok: true, detail: `${how}${auth}; ListMatchableAttributes answered (${rows.length} execution-cluster label${rows.length === 1 ? '' : 's'} set)` };
  } catch (err) {
    return fail(err);
  } finally {
    admin.close();
  }
}

/**
 * The doctor's report as text, one line per check. Bounded whatever the number of data planes:
 * the control plane always; with more than 50 data planes (MAX_REPORT_ROWS), the first 50 that
 * fail and the first 10 that pass, the rest counted by the check that failed (`--json` has every one).
 */
export function formatDoctor(r: DoctorReport): string {
  const lines: string[] = [];
  const [control, ...dataPlanes] = r.clusters;
  const rows = pickRows(dataPlanes, (c) => (c.ok ? 2 : 0));
  for (const c of [...(control ? [control] : []), ...rows.shown]) {
    lines.push(`${c.ok ? '✓' : '✗'} ${c.cluster}${c.server ? ` (${c.server})` : ''}`);
    for (const k of c.checks) lines.push(`    ${k.ok ? '✓' : '✗'} ${k.check.padEnd(12)}${k.detail}`);
    if (c.lifecycle) lines.push(`    ${c.lifecycle.ok ? '✓' : c.lifecycle.required ? '✗' : '!'} ${'lifecycle'.padEnd(12)}${c.lifecycle.detail}`);
    const skipped = (c === control ? CHECKS : DATA_PLANE_CHECKS).slice(c.checks.length);
    if (skipped.length) lines.push(`    - ${skipped.join(', ')}: not checked (fix the failure above first)`);
  }
  lines.push(...countedRest(rows.left, 'data planes', (c) => (c.ok ? 'passed every check' : `failed at ${c.checks.find((k) => !k.ok)?.check ?? 'a check'}`)));
  lines.push(`${r.store.ok ? '✓' : '✗'} store ${r.store.kind}: ${r.store.detail}`);
  if (r.flyteadmin) lines.push(`${r.flyteadmin.ok ? '✓' : '✗'} flyteadmin ${r.flyteadmin.endpoint}: ${r.flyteadmin.detail}`);
  const warned = r.owners.objects.some((o) => o.severity !== 'ok');
  const lifecycleWarned = r.clusters.some((c) => c.lifecycle && !c.lifecycle.ok && !c.lifecycle.required);
  lines.push(`${r.owners.ok ? (warned ? '!' : '✓') : '✗'} owners (controlPlane.mode: ${r.owners.mode}): ${r.owners.error ?? 'who else writes what the sync writes on the control plane'}`);
  lines.push(...formatOwnership(r.owners.objects, { all: true, indent: '    ' }));
  lines.push(
    '',
    r.ok
      ? `doctor: everything the sync needs is in place${warned ? '; another tool writes what the sync writes (see ! above)' : ''}${lifecycleWarned ? '; draining and retiring are not allowed on some data planes (see ! lifecycle above)' : ''}`
      : 'doctor: PROBLEMS FOUND (see ✗ above); nothing was changed',
  );
  return lines.join('\n');
}
