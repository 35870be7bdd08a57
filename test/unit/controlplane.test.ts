/**
 * The control plane's safety rules on in-memory fakes: restart intent from the config checksum,
 * the apply Lease, routing of rejected credentials, and the "no empty label" guard. The same
 * behaviours are proven against the real API server in test/integration/controlplane.test.ts
 * and the fault suite (test/faults/).
 */
import { describe, expect, it } from '@jest/globals';
import { parse } from 'yaml';
import { configChecksum, CONFIG_CHECKSUM_ANNOTATION, readDeployments, restartBehind } from '../../lib/controlplane/restart.ts';
import { RESTARTED_AFTER_ANNOTATION } from '../../lib/controlplane/content.ts';
import { acquireLease, LeaseLostError } from '../../lib/controlplane/lease.ts';
import { assertNoEmptiedLabels, emptiedLabels } from '../../lib/controlplane/labels.ts';
import { mergeClustersYaml } from '../../lib/controlplane/render.ts';
import { applyControlPlane, writePermissions } from '../../lib/controlplane/apply.ts';
import { mayDoInNamespace, ruleAllows } from '../../lib/kube/reviews.ts';
import type { KubeHttp } from '../../lib/kube/http2.ts';
import { formatReport } from '../../lib/cli/format.ts';
import { makeRecord } from '../../lib/stores/types.ts';
import { silentLog } from '../../lib/util/log.ts';
import { FakeControlPlane, testCa, testConfig } from './fakes.ts';

const rec = (id: string, token = `t-${id}-aaaaaaaa`) =>
  makeRecord({ clusterId: id, endpoint: `https://${id}:6443`, token, caCert: testCa(), source: { server: 's', namespace: 'flyte', serviceAccount: 'flyteadmin', secret: 'flyteadmin-token' } });
const records = (...ids: string[]) => new Map(ids.map((id) => [id, rec(id)]));
const now = () => new Date('2026-12-01T12:00:00Z');

describe('config checksum (restart intent from state)', () => {
  it('changes with any Secret byte, key or clusters.yaml text, and not with key order', () => {
    const base = { secretData: { a_token: Buffer.from('x'), a_cacert: Buffer.from('y') }, clustersYaml: { cm1: 'c: 1\n', cm2: 'c: 1\n' } };
    const sum = configChecksum(base);
    expect(sum).toMatch(/^sha256:[0-9a-f]{64}$/);
    expect(configChecksum({ secretData: { a_cacert: Buffer.from('y'), a_token: Buffer.from('x') }, clustersYaml: { cm2: 'c: 1\n', cm1: 'c: 1\n' } })).toBe(sum);
    expect(configChecksum({ ...base, secretData: { a_token: Buffer.from('x2'), a_cacert: Buffer.from('y') } })).not.toBe(sum);
    expect(configChecksum({ ...base, clustersYaml: { cm1: 'c: 1\n', cm2: 'c: 2\n' } })).not.toBe(sum);
    // Moving a byte from one field to the next is a different input.
    expect(configChecksum({ secretData: { a: Buffer.from('bc') }, clustersYaml: {} })).not.toBe(configChecksum({ secretData: { ab: Buffer.from('c') }, clustersYaml: {} }));
  });

  it('restarts only the Deployments behind the checksum, records it, and reports a missing one', async () => {
    const cp = new FakeControlPlane();
    cp.deployments.set('flyte/syncresources', { [CONFIG_CHECKSUM_ANNOTATION]: 'sha256:abc' });
    const dry = await restartBehind(cp, 'flyte', ['flyteadmin', 'syncresources', 'ghost'], 'sha256:abc', { at: 'T', dryRun: true });
    expect(dry).toEqual({ restarted: ['flyteadmin'], reasons: { flyteadmin: 'no configuration checksum' }, upToDate: ['syncresources'], failures: [{ name: 'ghost', code: 'KUBERNETES_API', reason: 'Deployment flyte/ghost does not exist' }] });
    expect(cp.restarts).toEqual([]);
    const r = await restartBehind(cp, 'flyte', ['flyteadmin', 'syncresources'], 'sha256:abc', { at: 'T' });
    expect(r.restarted).toEqual(['flyteadmin']);
    expect(cp.deployments.get('flyte/flyteadmin')).toEqual({ [CONFIG_CHECKSUM_ANNOTATION]: 'sha256:abc', 'kubectl.kubernetes.io/restartedAt': 'T' });
    expect((await restartBehind(cp, 'flyte', ['flyteadmin', 'syncresources'], 'sha256:abc', { at: 'T2' })).restarted).toEqual([]);
  });

  it('a run whose restarts never happened (killed) is completed by the next run, which writes nothing', async () => {
    const cp = new FakeControlPlane();
    const cfg = testConfig(['dp1']);
    // The first run writes, then "dies" at its first restart.
    const restart = cp.restartDeployment.bind(cp);
    cp.restartDeployment = async () => {
      throw new Error('killed');
    };
    const first = await applyControlPlane(cp, cfg, { records: records('dp1') }, { dryRun: false, now });
    expect(first.applied).toBe(true);
    expect(first.restartFailures.map((f) => f.name)).toEqual(['flyteadmin', 'syncresources']);
    cp.restartDeployment = restart;
    const writes = cp.writes.length;
    // Act: the next run has nothing to write, but finds the Deployments behind.
    const next = await applyControlPlane(cp, cfg, { records: records('dp1') }, { dryRun: false, now });
    expect(next.applied).toBe(false);
    expect(cp.writes.length).toBe(writes);
    expect(next.restarted).toEqual(['flyteadmin', 'syncresources']);
    expect(cp.deployments.get('flyte/flyteadmin')![CONFIG_CHECKSUM_ANNOTATION]).toBe(next.checksum);
    // And the one after is quiet: it does not even take the Lease (a write).
    const leaseRv = cp.leases.get('flyte/flyte-credsync')!.resourceVersion;
    const quiet = await applyControlPlane(cp, cfg, { records: records('dp1') }, { dryRun: false, now });
    expect(quiet.restarted).toEqual([]);
    expect(cp.writes.length).toBe(writes);
    expect(cp.leases.get('flyte/flyte-credsync')!.resourceVersion).toBe(leaseRv);
  });
  it('a Deployment that kept changing while its restart was sent (a rollout in progress): the apply tries again and reports every restart it made, in any attempt', async () => {
    // Prepare: syncresources' resourceVersion moves before each of its first 3 restart patches (the
    // deployment controller updating its status), so restartBehind gives up and the apply retries.
    const cp = new FakeControlPlane();
    const cfg = testConfig(['dp1']);
    const restart = cp.restartDeployment.bind(cp);
    let moved = 0;
    cp.restartDeployment = async (ns, name, at, annotations, rv) => {
      if (name === 'syncresources' && moved < 3) {
        moved++;
        cp.deploymentVersions.set(`${ns}/${name}`, (cp.deploymentVersions.get(`${ns}/${name}`) ?? 1) + 1);
      }
      return restart(ns, name, at, annotations, rv);
    };
    // Act
    const r = await applyControlPlane(cp, cfg, { records: records('dp1') }, { dryRun: false, now });
    // Assess: both restarted once, and both in the report (flyteadmin's in the first attempt).
    expect(r.attempts).toBe(2);
    expect(cp.restarts.map((x) => x.name)).toEqual(['flyteadmin', 'syncresources']);
    expect(r.restarted).toEqual(['flyteadmin', 'syncresources']);
    expect(Object.keys(r.restartReasons ?? {})).toEqual(['flyteadmin', 'syncresources']);
    expect(r.restartFailures).toEqual([]);
  });
});

describe('restarts derived from what the pods loaded (managedFields, content stamps)', () => {
  const CMS = ['flyte-admin-clusters-config', 'flyte-clusterresourcesync-config'];
  const EMPTY = 'clusters:\n  clusterConfigs: []\n  labelClusterMap: {}\n';
  /** A fake API server with a clock, a Helm release installed at its start, and the apply's options on that clock. */
  function world() {
    const cp = new FakeControlPlane();
    let t = Date.parse('2026-12-01T12:00:00Z');
    cp.clock = () => new Date(t);
    for (const name of CMS) cp.foreignWrite(name, 'helm', { 'clusters.yaml': EMPTY });
    for (const d of ['flyteadmin', 'syncresources']) cp.pods.set(`flyte/${d}`, { observed: true, created: [new Date(t).toISOString()] });
    const opts = { dryRun: false, now: () => new Date(t) };
    return { cp, opts, tick: (s: number) => void (t += s * 1000), at: () => new Date(t).toISOString() };
  }
  const cfg = testConfig(['dp1', 'dp2']);
  const input = { records: records('dp1', 'dp2') };

  it('a helm upgrade that reverts clusters.yaml and rolls flyteadmin: the next run repairs, names helm, restarts flyteadmin; a no-op run after it restarts nothing', async () => {
    const w = world();
    w.tick(30);
    const first = await applyControlPlane(w.cp, cfg, input, w.opts);
    expect(first.restarted).toEqual(['flyteadmin', 'syncresources']);
    expect(first.replaced?.map((r) => [r.object, r.manager])).toEqual(CMS.map((n) => [`ConfigMap/${n}`, 'helm']));
    w.tick(60);
    const writes = w.cp.writes.length;
    expect((await applyControlPlane(w.cp, cfg, input, w.opts)).restarted).toEqual([]);
    // Helm upgrade: both ConfigMaps back to the chart's values, flyteadmin rolled out (its
    // configChecksum changed); credsync's pod-template annotations left alone, so the new pods
    // carry the write id of credsync's restart (they were created after that write, and in Helm's interval).
    w.tick(60);
    for (const name of CMS) w.cp.foreignWrite(name, 'helm', { 'clusters.yaml': EMPTY });
    w.cp.pods.set('flyte/flyteadmin', { observed: true, created: [w.at(), w.at()], templateAnnotations: { ...w.cp.deployments.get('flyte/flyteadmin')! } });
    w.tick(60);
    const repair = await applyControlPlane(w.cp, cfg, input, w.opts);
    expect(repair.replaced?.map((r) => [r.object, r.manager, r.repairs])).toEqual(CMS.map((n) => [`ConfigMap/${n}`, 'helm', 1]));
    // flyteadmin's pods loaded Helm's empty list; syncresources' pods started before Helm's revert, on the content now repaired.
    expect(repair.restarted).toEqual(['flyteadmin']);
    expect(repair.restartReasons?.['flyteadmin']).toMatch(/^2 pod\(s\) started while the control plane held other content/);
    expect(w.cp.writes.length).toBe(writes + 2);
    w.tick(60);
    const noop = await applyControlPlane(w.cp, cfg, input, w.opts);
    expect([noop.restarted, noop.applied, w.cp.writes.length]).toEqual([[], false, writes + 2]);
  });

  it('a repair whose restart never happened (killed) is completed by the next run, which writes nothing', async () => {
    const w = world();
    await applyControlPlane(w.cp, cfg, input, w.opts);
    w.tick(60);
    for (const name of CMS) w.cp.foreignWrite(name, 'kubectl-edit', { 'clusters.yaml': EMPTY });
    w.cp.pods.set('flyte/syncresources', { observed: true, created: [w.at()] });
    w.tick(60);
    const restart = w.cp.restartDeployment.bind(w.cp);
    w.cp.restartDeployment = async () => {
      throw new Error('killed');
    };
    const killed = await applyControlPlane(w.cp, cfg, input, w.opts);
    expect(killed.restartFailures.map((f) => f.name)).toEqual(['syncresources']);
    w.cp.restartDeployment = restart;
    const writes = w.cp.writes.length;
    w.tick(60);
    const next = await applyControlPlane(w.cp, cfg, input, w.opts);
    expect([next.applied, next.restarted, w.cp.writes.length]).toEqual([false, ['syncresources'], writes]);
  });

  it('a writer that only reverts clusters.yaml (Argo CD self-heal) causes repairs, not restarts; more than 3 repairs within the hour: contested', async () => {
    const w = world();
    await applyControlPlane(w.cp, cfg, input, w.opts);
    for (let i = 1; i <= 5; i++) {
      w.tick(120);
      for (const name of CMS) w.cp.foreignWrite(name, 'argocd-application-controller', { 'clusters.yaml': EMPTY });
      w.tick(120);
      const r = await applyControlPlane(w.cp, cfg, input, w.opts);
      expect(r.restartReasons).toEqual({});
      expect(r.replaced?.[0]).toMatchObject({ manager: 'argocd-application-controller', repairs: i });
      expect(r.contested).toEqual(i > 3 ? { by: 'argocd-application-controller', repairs: i, since: expect.any(String) } : undefined);
      if (i === 4) {
        // What the CLI prints: the writer named, the contest and the way out.
        const text = formatReport({ runId: 'r', ok: false, dryRun: false, startedAt: '', durationMs: 1, clusters: [], controlPlane: r });
        expect(text).toContain('! ConfigMap/flyte-admin-clusters-config: replaced content last written by argocd-application-controller at ');
        expect(text).toContain('(its revert repaired 4 time(s) within the hour)');
        expect(text).toContain('✗ [CONTROL_PLANE_CONTESTED] argocd-application-controller keeps reverting clusters.yaml (4 repairs since ');
        expect(text).toContain('controlPlane.mode: gitops');
      }
    }
  });

  it('controlPlane.maxRepairsPerHour sets the bound: with 1, the second repair within the hour is contested; with 10, the fifth is not', async () => {
    for (const [limit, contestedFrom] of [[1, 2], [10, 11]] as const) {
      const w = world();
      const limited = testConfig(['dp1', 'dp2'], { controlPlane: { access: { type: 'kubeconfig', context: 'control' }, maxRepairsPerHour: limit } });
      await applyControlPlane(w.cp, limited, input, w.opts);
      const seen: boolean[] = [];
      for (let i = 1; i <= 5; i++) {
        w.tick(120);
        for (const name of CMS) w.cp.foreignWrite(name, 'argocd-application-controller', { 'clusters.yaml': EMPTY });
        w.tick(120);
        const r = await applyControlPlane(w.cp, limited, input, w.opts);
        seen.push(r.contested !== undefined);
        // Contested or not, every revert is repaired.
        expect(r.replaced?.map((x) => x.repairs)).toEqual([i, i]);
      }
      expect(seen).toEqual([1, 2, 3, 4, 5].map((i) => i >= contestedFrom));
    }
  });

  it('two writers reverting each other while pods start on the reverted content: restarts stop after 3 repairs within the hour', async () => {
    const w = world();
    await applyControlPlane(w.cp, cfg, input, w.opts);
    const restartsPerRun: string[][] = [];
    for (let i = 1; i <= 5; i++) {
      // The revert lands in the same second as the last restart's pods: they count as started on it.
      for (const name of CMS) w.cp.foreignWrite(name, 'argocd-application-controller', { 'clusters.yaml': EMPTY });
      w.tick(120);
      restartsPerRun.push((await applyControlPlane(w.cp, cfg, input, w.opts)).restarted);
    }
    expect(restartsPerRun).toEqual([['flyteadmin', 'syncresources'], ['flyteadmin', 'syncresources'], ['flyteadmin', 'syncresources'], [], []]);
  });

  it('a stale restart (its run paused past its Lease) is refused by the resourceVersion precondition and never sent again', async () => {
    const cp = new FakeControlPlane();
    const reads = await readDeployments(cp, 'flyte', ['flyteadmin']);
    let calls = 0;
    const stale = restartBehind(cp, 'flyte', ['flyteadmin'], 'sha256:A', {
      at: 'A-before-the-pause',
      templates: reads,
      beforeWrite: async () => {
        if (++calls === 1) {
          // Paused here, after its renewal: another run takes the Lease, writes and restarts.
          await cp.restartDeployment('flyte', 'flyteadmin', 'B', { [CONFIG_CHECKSUM_ANNOTATION]: 'sha256:B' });
          return;
        }
        throw new LeaseLostError('lost');
      },
    });
    await expect(stale).rejects.toBeInstanceOf(LeaseLostError);
    expect(cp.deployments.get('flyte/flyteadmin')).toEqual({ [CONFIG_CHECKSUM_ANNOTATION]: 'sha256:B', 'kubectl.kubernetes.io/restartedAt': 'B' });
    expect(cp.restarts.map((r) => r.at)).toEqual(['B']);
  });

  it('a restart in the same second as its writes: the next run restarts nothing (the pods carry the writes\' ids)', async () => {
    // Prepare: the fake API server's clock does not move within a run, so every pod the first run
    // starts is created in the second of its writes (as a real one often is).
    const w = world();
    w.tick(30);
    const first = await applyControlPlane(w.cp, cfg, input, w.opts);
    expect(first.restarted).toEqual(['flyteadmin', 'syncresources']);
    const ids = w.cp.deployments.get('flyte/flyteadmin')![RESTARTED_AFTER_ANNOTATION]!.split(',');
    // One id per object written: the Secret and both ConfigMaps.
    expect(ids).toHaveLength(3);
    expect(w.cp.pods.get('flyte/flyteadmin')).toMatchObject({ created: [w.at()], templateAnnotations: { [RESTARTED_AFTER_ANNOTATION]: ids.join(',') } });
    // Act
    w.tick(60);
    const writes = w.cp.writes.length;
    const next = await applyControlPlane(w.cp, cfg, input, w.opts);
    // Assess: a no-op.
    expect([next.restarted, next.applied, w.cp.writes.length]).toEqual([[], false, writes]);
  });

  it.each([
    ['10 s before', 10],
    ['in the same second as', 0],
  ])('a stale restart that got through anyway (its checksum on pods that loaded other content) %s the writes it preceded is caught by the pods\' start times', async (_when, gap) => {
    const w = world();
    const other = { records: new Map([['dp1', rec('dp1', 't-dp1-bbbbbbbb')], ['dp2', rec('dp2')]]) };
    // Run B writes its configuration and restarts.
    w.tick(30);
    await applyControlPlane(w.cp, cfg, other, w.opts);
    // Run A's stale patch lands: flyteadmin stamped with A's checksum, its pods start on B's content
    // (their template keeps the write ids of B's restart: created after B's writes, not A's).
    w.tick(10);
    const a = await applyControlPlane(w.cp, cfg, input, { ...w.opts, dryRun: true });
    await w.cp.restartDeployment('flyte', 'flyteadmin', w.at(), { [CONFIG_CHECKSUM_ANNOTATION]: a.checksum });
    expect(w.cp.pods.get('flyte/flyteadmin')!.templateAnnotations?.[RESTARTED_AFTER_ANNOTATION]).toBeDefined();
    // Run A, resumed, writes A's configuration: flyteadmin carries A's checksum but started before
    // A's content (in the same second: whole seconds cannot tell, so it counts as before).
    w.tick(gap);
    const resumed = await applyControlPlane(w.cp, cfg, input, w.opts);
    expect(resumed.checksum).toBe(a.checksum);
    expect(resumed.restarted).toEqual(['flyteadmin', 'syncresources']);
    expect(resumed.restartReasons?.['flyteadmin']).toMatch(/started while the control plane held other content/);
  });
});

describe('permissions checked before the first write (one rules review per writing run)', () => {
  const now = () => new Date('2026-12-05T01:00:00Z');
  it('an identity that may update one ConfigMap and not the other: refused naming it, nothing written (not even the Lease); a no-op run asks nothing', async () => {
    // Prepare
    const cp = new FakeControlPlane();
    const cfg = testConfig(['dp1']);
    cp.denied.add('update configmaps flyte/flyte-clusterresourcesync-config');
    cp.denied.add('patch deployments flyte/syncresources');
    const before = JSON.stringify([...cp.configMaps.values()]);
    // Act
    const refused = applyControlPlane(cp, cfg, { records: records('dp1') }, { dryRun: false, now });
    // Assess
    await expect(refused).rejects.toMatchObject({
      code: 'CLUSTER_ACCESS_DENIED',
      message: expect.stringContaining("the sync's identity may not update configmaps flyte/flyte-clusterresourcesync-config; patch deployments.apps flyte/syncresources: nothing written"),
    });
    expect([cp.writes, cp.restarts, cp.leases.size, cp.secrets.size]).toEqual([[], [], 0, 0]);
    expect(JSON.stringify([...cp.configMaps.values()])).toBe(before);
    expect(cp.reviews).toBe(1);
    // Granted: the run writes; the Secret did not exist, so create was asked, not update.
    cp.denied.clear();
    cp.denied.add('update secrets flyte/cluster-credentials');
    await applyControlPlane(cp, cfg, { records: records('dp1') }, { dryRun: false, now });
    expect(cp.secrets.size).toBe(1);
    // Now the Secret exists: updating it is needed, and refused.
    await expect(applyControlPlane(cp, cfg, { records: records('dp1', 'dp2') }, { dryRun: false, now: () => new Date('2026-12-05T01:10:00Z') })).rejects.toMatchObject({ code: 'CLUSTER_ACCESS_DENIED', message: expect.stringContaining('may not update secrets flyte/cluster-credentials: nothing written') });
    // A run with nothing to write or restart asks no review.
    cp.denied.clear();
    const reviews = cp.reviews;
    await applyControlPlane(cp, cfg, { records: records('dp1', 'dp2') }, { dryRun: false, now: () => new Date('2026-12-05T01:20:00Z') });
    const quiet = await applyControlPlane(cp, cfg, { records: records('dp1', 'dp2') }, { dryRun: false, now: () => new Date('2026-12-05T01:30:00Z') });
    expect([quiet.applied, quiet.restarted]).toEqual([false, []]);
    expect(cp.reviews).toBe(reviews + 1);
  });

  it('mode gitops never writes the ConfigMaps: their update is not asked', () => {
    const cfg = testConfig(['dp1'], { controlPlane: { access: { type: 'kubeconfig', context: 'control' }, mode: 'gitops' } });
    expect(writePermissions(cfg.controlPlane, false).map((a) => `${a.verb} ${a.resource} ${a.name}`)).toEqual(['update secrets cluster-credentials', 'patch deployments flyteadmin', 'patch deployments syncresources']);
  });

  it('one rules review answers every action; only when the API server says its rules are incomplete (a webhook authorizer) is an action they do not allow asked again with an SSAR', async () => {
    // Prepare: an API server that answers the rules review with `rules` and `incomplete`, and every SSAR with `ssar`.
    const server = (incomplete: boolean, ssar: boolean) => {
      const sent: Array<{ path: string; body: unknown }> = [];
      const http = {
        request: async (req: { path: string; body: unknown }) => {
          sent.push(req);
          if (req.path.endsWith('/selfsubjectrulesreviews'))
            return { status: { incomplete, resourceRules: [{ verbs: ['get', 'update'], apiGroups: [''], resources: ['configmaps'], resourceNames: ['a'] }] } };
          return { status: { allowed: ssar } };
        },
      } as unknown as KubeHttp;
      return { http, sent };
    };
    const asked = [
      { verb: 'update', group: '', resource: 'configmaps', name: 'a' },
      { verb: 'update', group: '', resource: 'configmaps', name: 'b' },
      { verb: 'patch', group: 'apps', resource: 'deployments', name: 'flyteadmin' },
    ];
    // Act + Assess: complete rules (RBAC): one call, answered locally.
    const rbacOnly = server(false, true);
    expect(await mayDoInNamespace(rbacOnly.http, 'control plane', 'https://x', 'flyte', asked)).toEqual([true, false, false]);
    expect(rbacOnly.sent.map((r) => r.path)).toEqual(['/apis/authorization.k8s.io/v1/selfsubjectrulesreviews']);
    expect(rbacOnly.sent[0]!.body).toMatchObject({ kind: 'SelfSubjectRulesReview', spec: { namespace: 'flyte' } });
    // Incomplete: the two actions the rules do not allow are asked, in the namespace; the allowed one is not.
    const webhook = server(true, true);
    expect(await mayDoInNamespace(webhook.http, 'control plane', 'https://x', 'flyte', asked)).toEqual([true, true, true]);
    const ssars = webhook.sent.slice(1).map((r) => (r.body as { spec: { resourceAttributes: Record<string, string> } }).spec.resourceAttributes);
    expect(ssars).toEqual([
      { verb: 'update', group: '', resource: 'configmaps', namespace: 'flyte', name: 'b' },
      { verb: 'patch', group: 'apps', resource: 'deployments', namespace: 'flyte', name: 'flyteadmin' },
    ]);
    const denied = server(true, false);
    expect(await mayDoInNamespace(denied.http, 'control plane', 'https://x', 'flyte', asked)).toEqual([true, false, false]);
  });

  it('rules are matched the way RBAC matches them: wildcards, subresources, resource names', () => {
    const cm = { verb: 'update', group: '', resource: 'configmaps', name: 'a' };
    expect(ruleAllows({ verbs: ['update'], apiGroups: [''], resources: ['configmaps'], resourceNames: ['a'] }, cm)).toBe(true);
    expect(ruleAllows({ verbs: ['update'], apiGroups: [''], resources: ['configmaps'], resourceNames: ['b'] }, cm)).toBe(false);
    expect(ruleAllows({ verbs: ['*'], apiGroups: ['*'], resources: ['*'] }, cm)).toBe(true);
    expect(ruleAllows({ verbs: ['get'], apiGroups: [''], resources: ['configmaps'] }, cm)).toBe(false);
    expect(ruleAllows({ verbs: ['update'], apiGroups: ['apps'], resources: ['configmaps'] }, cm)).toBe(false);
    // A rule naming objects does not allow an action on no particular object (create).
    expect(ruleAllows({ verbs: ['create'], apiGroups: [''], resources: ['secrets'], resourceNames: ['x'] }, { verb: 'create', group: '', resource: 'secrets' })).toBe(false);
    const token = { verb: 'create', group: '', resource: 'serviceaccounts', subresource: 'token', name: 'flyteadmin' };
    expect(ruleAllows({ verbs: ['create'], apiGroups: [''], resources: ['serviceaccounts/token'] }, token)).toBe(true);
    expect(ruleAllows({ verbs: ['create'], apiGroups: [''], resources: ['*/token'] }, token)).toBe(true);
    expect(ruleAllows({ verbs: ['create'], apiGroups: [''], resources: ['serviceaccounts'] }, token)).toBe(false);
  });
});

describe('the control-plane Lease', () => {
  const opts = (over: Record<string, unknown> = {}) => ({ namespace: 'flyte', name: 'flyte-credsync', durationSeconds: 10, waitSeconds: 60, log: silentLog, ...over });

  it('is exclusive: a second run waits, and takes it once the holder releases it', async () => {
    const cp = new FakeControlPlane();
    const a = await acquireLease(cp, opts({ identity: 'a' }));
    let waits = 0;
    const b = acquireLease(cp, opts({ identity: 'b', sleep: async () => void (++waits === 3 && (await a.release())) }));
    const held = await b;
    expect(waits).toBe(3);
    expect(cp.leases.get('flyte/flyte-credsync')).toMatchObject({ holderIdentity: 'b', leaseDurationSeconds: 10, leaseTransitions: 1 });
    await held.release();
    expect(cp.leases.get('flyte/flyte-credsync')!.holderIdentity).toBeUndefined();
  });

  it('takes over a Lease left by a dead run only after seeing it unchanged for its whole duration (own clock)', async () => {
    const cp = new FakeControlPlane();
    await acquireLease(cp, opts({ identity: 'dead' })); // never renewed, never released
    let t = 0;
    const held = await acquireLease(cp, opts({ identity: 'next', monotonic: () => t, sleep: async (ms: number) => void (t += ms) }));
    expect(t).toBeGreaterThanOrEqual(10_000);
    expect(t).toBeLessThan(12_000);
    expect(cp.leases.get('flyte/flyte-credsync')).toMatchObject({ holderIdentity: 'next', leaseTransitions: 1 });
    await held.release();
  });

  it('gives up with CONTROL_PLANE_BUSY while a live holder keeps renewing', async () => {
    const cp = new FakeControlPlane();
    const a = await acquireLease(cp, opts({ identity: 'a' }));
    let t = 0;
    const b = acquireLease(cp, opts({ identity: 'b', waitSeconds: 20, monotonic: () => t, sleep: async (ms: number) => { t += ms; await a.renew(); } }));
    await expect(b).rejects.toMatchObject({ code: 'CONTROL_PLANE_BUSY', message: expect.stringContaining('is held by another sync (a) after waiting 20 s; nothing was written') });
    await a.release();
  });

  it('a holder that lost its Lease learns it at its next renewal, before writing', async () => {
    const cp = new FakeControlPlane();
    const a = await acquireLease(cp, opts({ identity: 'a' }));
    const cur = cp.leases.get('flyte/flyte-credsync')!;
    await cp.replaceLease({ ...cur, holderIdentity: 'b' }); // b took it over while a was paused
    await expect(a.renew()).rejects.toBeInstanceOf(LeaseLostError);
    await expect(a.renew()).rejects.toThrow('lost Lease flyte/flyte-credsync (now held by b)');
    await a.release(); // does not clear b's Lease
    expect(cp.leases.get('flyte/flyte-credsync')!.holderIdentity).toBe('b');
  });

  it('a holder that went longer than the duration without a confirmed renewal (paused) says a call that failed meanwhile was the Lease lost (LEASE_LOST)', async () => {
    const cp = new FakeControlPlane();
    let t = 0;
    const a = await acquireLease(cp, opts({ identity: 'a', monotonic: () => t }));
    const timeout = new Error('cluster control: API server https://control unreachable: PUT configmaps: timed out after 20000 ms');
    t = 9_000;
    expect(a.overdueMs()).toBeUndefined();
    expect(a.lostBy(timeout)).toBeUndefined();
    await a.renew(); // confirmed at 9 s
    t = 19_000;
    expect(a.lostBy(timeout)).toBeUndefined();
    t = 39_500; // paused 30.5 s past its last renewal: longer than the 10 s Lease
    expect(a.overdueMs()).toBe(30_500);
    const lost = a.lostBy(timeout)!;
    expect(lost.code).toBe('LEASE_LOST');
    expect(lost.message).toBe(
      'control plane: Lease flyte/flyte-credsync lost: this run went 31 s without renewing it (it lasts 10 s; the process was paused or starved), so another run may hold it and this one stopped writing. ' +
        'What was in flight was cut off and may or may not have been applied (cluster control: API server https://control unreachable: PUT configmaps: timed out after 20000 ms); the next run converges',
    );
    await a.release();
  });
});

describe('routing: configuration always applies, rejected credentials leave routing, labels never empty silently', () => {
  const first = (cfg: ReturnType<typeof testConfig>) => mergeClustersYaml(undefined, new Set(), cfg, { records: records(...cfg.dataPlanes.map((d) => d.id)) }, 'cm');

  it('labels, weights and enabled apply to a data plane whose stored credential could not be read', () => {
    const before = first(testConfig(['dp1', 'dp2']));
    const cfg = testConfig(['dp1', 'dp2'], {}, (id) => (id === 'dp2' ? { enabled: false, labels: { team1: 0.3 } } : {}));
    const r = mergeClustersYaml(before.text, before.managed, cfg, { records: records('dp1') }, 'cm');
    const doc = parse(r.text);
    expect(doc.clusters.clusterConfigs.find((e: { name: string }) => e.name === 'dp2')).toEqual({
      name: 'dp2',
      endpoint: 'https://dp2:6443', // kept from the existing entry
      enabled: false,
      auth: { tokenPath: '/var/run/credentials/dp2_token', certPath: '/var/run/credentials/dp2_cacert' },
    });
    expect(doc.clusters.labelClusterMap.team1).toEqual([{ id: 'dp1', weight: 1 }]);
    expect(r.routing.get('dp2')).toEqual({ listed: true, enabled: false, labels: [], keptInLabels: [] });
  });

  it('an unrouted data plane keeps its entry, disabled and out of its labels', () => {
    const cfg = testConfig(['dp1', 'dp2']);
    const before = first(cfg);
    const r = mergeClustersYaml(before.text, before.managed, cfg, { records: records('dp1', 'dp2'), unrouted: new Set(['dp2']) }, 'cm');
    const doc = parse(r.text);
    expect(doc.clusters.clusterConfigs.find((e: { name: string }) => e.name === 'dp2')).toMatchObject({ enabled: false, auth: { tokenPath: '/var/run/credentials/dp2_token' } });
    expect(doc.clusters.labelClusterMap.team1).toEqual([{ id: 'dp1', weight: 1 }]);
  });

  it('an unrouted data plane that is the last enabled member of a label stays in it, enabled, and says so', () => {
    const cfg = testConfig(['dp1', 'dp2'], {}, (id) => (id === 'dp2' ? { labels: { team1: 1, gpu: 0.5 } } : {}));
    const before = first(cfg);
    const r = mergeClustersYaml(before.text, before.managed, cfg, { records: records('dp1', 'dp2'), unrouted: new Set(['dp2']) }, 'cm');
    const doc = parse(r.text);
    expect(doc.clusters.labelClusterMap).toEqual({ team1: [{ id: 'dp1', weight: 1 }], gpu: [{ id: 'dp2', weight: 0.5 }] });
    expect(doc.clusters.clusterConfigs.find((e: { name: string }) => e.name === 'dp2')).toMatchObject({ enabled: true });
    expect(r.routing.get('dp2')).toEqual({ listed: true, enabled: true, labels: ['gpu'], keptInLabels: ['gpu'] });
  });

  it('refuses a configuration change that empties a label, unless the label is retired', () => {
    const cfg = testConfig(['dp1', 'dp2'], {}, (id) => (id === 'dp2' ? { labels: { team1: 1, gpu: 1 } } : {}));
    const before = first(cfg);
    const without = testConfig(['dp1']);
    expect(() => mergeClustersYaml(before.text, before.managed, without, { records: records('dp1') }, 'cm')).toThrow(
      'cm: refusing to leave label(s) "gpu" (had dp2) with no enabled cluster: flyteadmin would drop the label and send its executions to every enabled cluster. Keep an enabled data plane in it, or list it in controlPlane.retiredLabels to retire it',
    );
    const disabled = testConfig(['dp1', 'dp2'], {}, (id) => (id === 'dp2' ? { labels: { team1: 1, gpu: 1 }, enabled: false } : {}));
    expect(() => mergeClustersYaml(before.text, before.managed, disabled, { records: records('dp1', 'dp2') }, 'cm')).toThrow(/"gpu" \(had dp2\)/);
    const retired = testConfig(['dp1'], { controlPlane: { access: { type: 'kubeconfig', context: 'control' }, retiredLabels: ['gpu'] } });
    const r = mergeClustersYaml(before.text, before.managed, retired, { records: records('dp1') }, 'cm');
    expect(parse(r.text).clusters.labelClusterMap.gpu).toBeUndefined();
  });

  it('emptiedLabels counts only enabled members, as flyteadmin does', () => {
    const before = {
      clusterConfigs: [{ name: 'a', enabled: true }, { name: 'b', enabled: false }, { name: 'c', inCluster: true, enabled: true }],
      labelClusterMap: { x: [{ id: 'a' }], y: [{ id: 'b' }], z: [{ id: 'c' }, { id: 'ghost' }] },
    };
    const after = { clusterConfigs: [{ name: 'a', enabled: false }, { name: 'c', inCluster: true, enabled: true }], labelClusterMap: { x: [{ id: 'a' }], z: [{ id: 'c' }] } };
    expect(emptiedLabels(before, after)).toEqual(['x']); // y had no enabled member to lose
    expect(() => assertNoEmptiedLabels(before, after, { where: 'w', retired: new Set(['x']) })).not.toThrow();
    expect(() => assertNoEmptiedLabels(before, after, { where: 'w' })).toThrow(expect.objectContaining({ code: 'LABEL_WOULD_EMPTY' }));
  });
});
