/** In-memory fakes of the Kubernetes ports, for fast unit tests of the core (never the only proof). */
import { X509Certificate } from 'node:crypto';
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { CredentialRejectedError } from '../../lib/errors.ts';
import { ConflictError } from '../../lib/kube/errors.ts';
import type { CredentialVerifier, VerifyRequest } from '../../lib/dataplane/verify.ts';
import type { AuditEvent, ConfigMapObject, ControlPlaneApi, DataPlaneApi, DeploymentObject, FlyteWorkflowView, LeaseObject, SecretObject } from '../../lib/kube/ports.ts';
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
  private rv = 1;

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
    this.secrets.set(key, { ...secret, resourceVersion: String(this.rv++) });
  }
  async replaceSecret(secret: SecretObject) {
    const key = `${secret.namespace}/${secret.name}`;
    const cur = this.secrets.get(key);
    if (!cur || cur.resourceVersion !== secret.resourceVersion || this.takeConflict(key)) throw new ConflictError(`conflict on ${key}`);
    this.writes.push(`update Secret ${secret.name}`);
    this.secrets.set(key, { ...secret, resourceVersion: String(this.rv++) });
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
    this.configMaps.set(key, { ...cm, resourceVersion: String(this.rv++) });
  }
  async getDeploymentTemplate(namespace: string, name: string): Promise<DeploymentObject | undefined> {
    const a = this.deployments.get(`${namespace}/${name}`);
    return a && { name, namespace, templateAnnotations: { ...a } };
  }
  async restartDeployment(namespace: string, name: string, at: string, annotations: Record<string, string> = {}) {
    const key = `${namespace}/${name}`;
    const cur = this.deployments.get(key);
    if (!cur) throw new Error(`deployments.apps "${name}" not found`);
    this.deployments.set(key, { ...cur, ...annotations, 'kubectl.kubernetes.io/restartedAt': at });
    this.restarts.push({ name, at });
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
