/** In-memory fakes of the Kubernetes ports, for fast unit tests of the core (never the only proof). */
import { X509Certificate } from 'node:crypto';
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { CredentialRejectedError } from '../../lib/errors.ts';
import { ConflictError } from '../../lib/kube/errors.ts';
import type { CredentialVerifier, VerifyRequest } from '../../lib/dataplane/verify.ts';
import type { AuditEvent, ConfigMapObject, ControlPlaneApi, CurrentPods, DataPlaneApi, DeploymentObject, FieldOwner, FlyteWorkflowView, LeaseObject, SecretObject } from '../../lib/kube/ports.ts';
import type { ReviewedAction } from '../../lib/kube/reviews.ts';
import { parseConfig } from '../../lib/config/load.ts';
import type { Config } from '../../lib/config/schema.ts';

let cachedCa: string | undefined;
/** A real self-signed PEM certificate (made once with openssl). */
export function testCa(): string {
  if (cachedCa) return cachedCa;
  const dir = mkdtempSync(join(tmpdir(), 'credsync-ca-'));
  try {
    execFileSync('openssl', ['req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes', '-keyout', join(dir, 'k'), '-out', join(dir, 'c'), '-days', '1', '-subj', '/CN=test-ca'], { stdio: 'ignore' });
    cachedCa = readFileSync(join(dir, 'c'), 'utf8');
    new X509Certificate(cachedCa);
    return cachedCa;
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

/** A JWT-shaped fake token, unique per (cluster, n). */
export function fakeToken(cluster: string, n = 1): string {
  const b = (o: object) => Buffer.from(JSON.stringify(o)).toString('base64url');
  return `${b({ alg: 'RS256', kid: 'k' })}.${b({ sub: `system:serviceaccount:flyte:flyteadmin`, c: cluster, n })}.c2lnbmF0dXJlLW9mLXRoZS10b2tlbi0${cluster}${n}`;
}

export class FakeDataPlane implements DataPlaneApi {
  readonly server: string;
  secrets = new Map<string, SecretObject>();
  serviceAccounts = new Set<string>(['flyte/flyteadmin']);
  writes = 0;
  reads = 0;
  /** Simulates the token controller: fills a created token Secret after this many reads. */
  fillAfterReads = 1;
  controllerRunning = true;
  down = false;
  private pendingFill = new Map<string, number>();

  readonly id: string;

  constructor(id: string, opts: { seeded?: boolean; token?: string } = {}) {
    this.id = id;
    this.server = `https://${id}.example:6443`;
    if (opts.seeded !== false) this.seed(opts.token ?? fakeToken(id));
  }

  seed(token: string, ca = testCa()): void {
    this.secrets.set('flyte/flyteadmin-token', {
      name: 'flyteadmin-token',
      namespace: 'flyte',
      type: 'kubernetes.io/service-account-token',
      uid: `uid-${this.id}`,
      labels: {},
      annotations: { 'kubernetes.io/service-account.name': 'flyteadmin' },
      data: { token: Buffer.from(token), 'ca.crt': Buffer.from(ca), namespace: Buffer.from('flyte') },
    });
  }

  private check(): void {
    if (this.down) throw new Error(`connect ECONNREFUSED ${this.server}`);
  }

  /** The FlyteWorkflows on this data plane (lib/lifecycle/executions.ts). */
  workflows: FlyteWorkflowView[] = [];
  async listFlyteWorkflows(): Promise<FlyteWorkflowView[]> {
    this.check();
    return this.workflows.map((w) => ({ ...w }));
  }

  async getSecret(namespace: string, name: string): Promise<SecretObject | undefined> {
    this.check();
    this.reads++;
    const key = `${namespace}/${name}`;
    const pending = this.pendingFill.get(key);
    if (pending !== undefined && this.controllerRunning) {
      if (pending <= 1) {
        this.pendingFill.delete(key);
        const s = this.secrets.get(key)!;
        s.data = { token: Buffer.from(fakeToken(this.id, 99)), 'ca.crt': Buffer.from(testCa()), namespace: Buffer.from(namespace) };
      } else this.pendingFill.set(key, pending - 1);
    }
    const s = this.secrets.get(key);
    return s && { ...s, labels: { ...s.labels }, annotations: { ...s.annotations }, data: Object.fromEntries(Object.entries(s.data).map(([k, v]) => [k, Buffer.from(v)])) };
  }

  async createTokenSecret(namespace: string, name: string, serviceAccount: string): Promise<'created' | 'exists'> {
    this.check();
    const key = `${namespace}/${name}`;
    if (this.secrets.has(key)) return 'exists';
    this.writes++;
    this.secrets.set(key, {
      name,
      namespace,
      type: 'kubernetes.io/service-account-token',
      uid: `uid-new-${this.id}`,
      labels: {},
      annotations: { 'kubernetes.io/service-account.name': serviceAccount },
      data: {},
    });
    this.pendingFill.set(key, this.fillAfterReads);
    return 'created';
  }

  async serviceAccountExists(namespace: string, name: string): Promise<boolean> {
    this.check();
    return this.serviceAccounts.has(`${namespace}/${name}`);
  }
}

export class FakeControlPlane implements ControlPlaneApi {
  readonly server = 'https://control.example:6443';
  secrets = new Map<string, SecretObject>();
  configMaps = new Map<string, ConfigMapObject>();
  restarts: Array<{ name: string; at: string }> = [];
  /** Pod-template annotations of the Deployments that exist. */
  deployments = new Map<string, Record<string, string>>([
    ['flyte/flyteadmin', {}],
    ['flyte/syncresources', {}],
  ]);
  leases = new Map<string, LeaseObject>();
  writes: string[] = [];
  /** Conflicts to inject: each entry makes the next replace of that object fail once with 409. */
  conflicts: string[] = [];
  /** Each Deployment's current pods (default: observed, none). */
  pods = new Map<string, CurrentPods>();
  /** Each Deployment's resourceVersion (a restart patch may carry it as a precondition). */
  deploymentVersions = new Map<string, number>();
  /**
   * The API server's clock. When set, writes keep managedFields (owners: which manager last
   * changed which data key, and when) and a restart replaces the Deployment's pods with pods
   * created at this time from the new pod template, as the API server and the deployment
   * controller do.
   */
  clock: (() => Date) | undefined;
  /** Actions the identity may not do, as `verb resource namespace/name` (`update configmaps flyte/flyte-admin-clusters-config`). */
  denied = new Set<string>();
  /** Access reviews asked (one per mayDo call, as one SelfSubjectRulesReview). */
  reviews = 0;
  private rv = 1;

  async mayDo(namespace: string, actions: readonly ReviewedAction[]): Promise<boolean[]> {
    this.reviews++;
    return actions.map((a) => !this.denied.has(`${a.verb} ${a.resource} ${namespace}/${a.name ?? '*'}`));
  }

  constructor(clustersYaml = 'clusters:\n  clusterConfigs: []\n  labelClusterMap: {}\n') {
    for (const name of ['flyte-admin-clusters-config', 'flyte-clusterresourcesync-config']) {
      const data: Record<string, string> = { 'clusters.yaml': clustersYaml };
      if (name === 'flyte-clusterresourcesync-config') {
        data['cluster_resources.yaml'] = 'cluster_resources:\n  refreshInterval: 5m\n';
        data['domain.yaml'] = 'domains:\n  - id: development\n    name: development\n';
      }
      this.configMaps.set(`flyte/${name}`, { name, namespace: 'flyte', resourceVersion: String(this.rv++), labels: {}, annotations: {}, data });
    }
  }

  async getSecret(namespace: string, name: string) {
    const s = this.secrets.get(`${namespace}/${name}`);
    return s && { ...s, labels: { ...s.labels }, annotations: { ...s.annotations }, data: { ...s.data } };
  }
  async createSecret(secret: SecretObject) {
    const key = `${secret.namespace}/${secret.name}`;
    if (this.secrets.has(key)) throw new ConflictError('exists');
    this.writes.push(`create Secret ${secret.name}`);
    const { owners: _o, ...rest } = secret;
    this.secrets.set(key, { ...rest, resourceVersion: String(this.rv++), ...this.ownersAfter(undefined, secret, 'flyte-credsync') });
  }
  async replaceSecret(secret: SecretObject) {
    const key = `${secret.namespace}/${secret.name}`;
    const cur = this.secrets.get(key);
    if (!cur || cur.resourceVersion !== secret.resourceVersion || this.takeConflict(key)) throw new ConflictError(`conflict on ${key}`);
    this.writes.push(`update Secret ${secret.name}`);
    const { owners: _o, ...rest } = secret;
    this.secrets.set(key, { ...rest, resourceVersion: String(this.rv++), ...this.ownersAfter(cur, secret, 'flyte-credsync') });
  }
  async getConfigMap(namespace: string, name: string) {
    const c = this.configMaps.get(`${namespace}/${name}`);
    return c && { ...c, labels: { ...c.labels }, annotations: { ...c.annotations }, data: { ...c.data } };
  }
  async replaceConfigMap(cm: ConfigMapObject) {
    const key = `${cm.namespace}/${cm.name}`;
    const cur = this.configMaps.get(key);
    if (!cur || cur.resourceVersion !== cm.resourceVersion || this.takeConflict(key)) throw new ConflictError(`conflict on ${key}`);
    this.writes.push(`update ConfigMap ${cm.name}`);
    const { owners: _o, ...rest } = cm;
    this.configMaps.set(key, { ...rest, resourceVersion: String(this.rv++), ...this.ownersAfter(cur, cm, 'flyte-credsync') });
  }
  /**
   * Another field manager writes a ConfigMap's data (Helm, Argo CD, kubectl edit): its keys move
   * to `manager`, at the clock's time.
   */
  foreignWrite(name: string, manager: string, data: Record<string, string>) {
    const key = `flyte/${name}`;
    const cur = this.configMaps.get(key)!;
    const next = { ...cur, data: { ...cur.data, ...data } };
    this.configMaps.set(key, { ...next, resourceVersion: String(this.rv++), ...this.ownersAfter(cur, next, manager) });
  }
  /** managedFields after `manager` wrote `next` over `cur` (changed data keys move to it), when the clock is set. */
  private ownersAfter(cur: { data: Record<string, Buffer | string>; annotations: Record<string, string>; owners?: FieldOwner[] } | undefined, next: { data: Record<string, Buffer | string>; annotations: Record<string, string> }, manager: string): { owners?: FieldOwner[] } {
    if (!this.clock) return cur?.owners ? { owners: cur.owners } : {};
    const same = (a: Buffer | string | undefined, b: Buffer | string | undefined) => (a === undefined || b === undefined ? a === b : Buffer.from(a).equals(Buffer.from(b)));
    // An object without managedFields was created by its first writer, which owns all of it.
    const changed = Object.keys(next.data).filter((k) => !cur?.owners || !same(cur?.data[k], next.data[k]));
    const annotationsChanged = JSON.stringify(cur?.annotations ?? {}) !== JSON.stringify(next.annotations);
    const time = new Date(Math.floor(this.clock().getTime() / 1000) * 1000).toISOString().replace('.000Z', 'Z');
    const owners = (cur?.owners ?? []).map((o) => ({ ...o, dataKeys: o.manager === manager ? o.dataKeys : o.dataKeys.filter((k) => !changed.includes(k)) }));
    const mine = owners.find((o) => o.manager === manager);
    if (mine) {
      mine.dataKeys = [...new Set([...mine.dataKeys, ...changed])];
      if (changed.length || annotationsChanged) mine.time = time;
    } else if (changed.length || annotationsChanged) owners.push({ manager, operation: 'Update', time, dataKeys: changed });
    return { owners };
  }
  async getDeploymentTemplate(namespace: string, name: string): Promise<DeploymentObject | undefined> {
    const a = this.deployments.get(`${namespace}/${name}`);
    return a && { name, namespace, templateAnnotations: { ...a }, resourceVersion: String(this.deploymentVersions.get(`${namespace}/${name}`) ?? 1) };
  }
  async restartDeployment(namespace: string, name: string, at: string, annotations: Record<string, string> = {}, resourceVersion?: string) {
    const key = `${namespace}/${name}`;
    const cur = this.deployments.get(key);
    if (!cur) throw new Error(`deployments.apps "${name}" not found`);
    const version = this.deploymentVersions.get(key) ?? 1;
    if (resourceVersion !== undefined && resourceVersion !== String(version)) throw new ConflictError(`conflict on Deployment ${key}`);
    this.deploymentVersions.set(key, version + 1);
    const template = { ...cur, ...annotations, 'kubectl.kubernetes.io/restartedAt': at };
    this.deployments.set(key, template);
    this.restarts.push({ name, at });
    if (this.clock) this.pods.set(key, { observed: true, created: [this.clock().toISOString()], templateAnnotations: { ...template } });
  }
  async currentPods(namespace: string, name: string): Promise<CurrentPods | undefined> {
    const key = `${namespace}/${name}`;
    if (!this.deployments.has(key)) return undefined;
    return this.pods.get(key) ?? { observed: true, created: [] };
  }
  events: AuditEvent[] = [];
  async createEvent(e: AuditEvent) {
    this.events.push(e);
  }
  async getLease(namespace: string, name: string) {
    const l = this.leases.get(`${namespace}/${name}`);
    return l && { ...l };
  }
  async createLease(lease: LeaseObject) {
    const key = `${lease.namespace}/${lease.name}`;
    if (this.leases.has(key)) throw new ConflictError(`lease ${key} exists`);
    const stored = { ...lease, resourceVersion: String(this.rv++) };
    this.leases.set(key, stored);
    return { ...stored };
  }
  async replaceLease(lease: LeaseObject) {
    const key = `${lease.namespace}/${lease.name}`;
    const cur = this.leases.get(key);
    if (!cur || cur.resourceVersion !== lease.resourceVersion) throw new ConflictError(`conflict on lease ${key}`);
    const stored = { ...lease, resourceVersion: String(this.rv++) };
    this.leases.set(key, stored);
    return { ...stored };
  }
  /** Someone else edits a ConfigMap between our read and write. */
  concurrentEdit(name: string, edit: (data: Record<string, string>) => void) {
    const c = this.configMaps.get(`flyte/${name}`)!;
    edit(c.data);
    c.resourceVersion = String(this.rv++);
  }
  private takeConflict(key: string): boolean {
    const i = this.conflicts.indexOf(key);
    if (i < 0) return false;
    this.conflicts.splice(i, 1);
    return true;
  }
  clustersYaml(name = 'flyte-admin-clusters-config'): string {
    return this.configMaps.get(`flyte/${name}`)!.data['clusters.yaml']!;
  }
}

/** A verifier that accepts only the tokens it is told are valid; each request is pushed to `seen`. */
export function fakeVerifier(valid: Set<string>, seen: VerifyRequest[] = []): CredentialVerifier {
  return async (req) => {
    seen.push(req);
    if (!valid.has(req.token)) throw new CredentialRejectedError(req.cluster, 'the token does not authenticate (HTTP 401)', { unauthenticated: true });
    return { username: req.expectedUser, identityReviewed: req.identityProven !== true };
  };
}

export function testConfig(ids: string[], extra: Record<string, unknown> = {}, dp: (id: string) => Record<string, unknown> = () => ({})): Config {
  return parseConfig({
    controlPlane: { access: { type: 'kubeconfig', context: 'control' } },
    store: { aws: { region: 'us-east-1' } },
    dataPlanes: ids.map((id) => ({ id, access: { type: 'kubeconfig', context: id }, labels: { team1: 1 }, ...dp(id) })),
    tokenWaitSeconds: 1,
    ...extra,
  });
}
