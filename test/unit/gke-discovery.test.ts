/**
 * GKE discovery: labels to data planes, listing per project x location, merging with written and
 * EKS-discovered data planes. There is no GKE emulator: the cluster API is a stand-in
 * `listClusters` that answers with GKE's own response shape (google.container.v1.ListClustersResponse:
 * `clusters` with name, location, resourceLabels; `missingZones`). EKS discovery runs through a real
 * EKSClient whose middleware answers ListClusters/DescribeCluster in memory (the SDK's own seam).
 */
import { describe, expect, it } from '@jest/globals';
import { EKSClient, type DescribeClusterCommandOutput, type ListClustersCommandOutput } from '@aws-sdk/client-eks';
import { discoverGke, dataPlaneFromLabels, type GkeClusterLister } from '../../lib/discovery/gke.ts';
import { mergeDiscovered } from '../../lib/discovery/merge.ts';
import { resolveDataPlanes } from '../../lib/discovery/resolve.ts';
import { parseConfig } from '../../lib/config/load.ts';
import { ConfigError } from '../../lib/errors.ts';
import { testConfig } from './fakes.ts';

interface StandInCluster {
  name: string;
  location: string;
  resourceLabels?: Record<string, string>;
}

const SELECTOR = { 'flyte-credsync-data-plane': 'true' };

/** listClusters as GKE answers it: `-` lists every location of the project. */
function lister(byProject: Record<string, StandInCluster[]>, extra: { missingZones?: Record<string, string[]>; fail?: Record<string, Error> } = {}): GkeClusterLister & { parents: string[] } {
  const parents: string[] = [];
  return {
    parents,
    listClusters: (async (req: { parent: string }) => {
      parents.push(req.parent);
      const m = /^projects\/([^/]+)\/locations\/([^/]+)$/.exec(req.parent);
      if (!m) throw Object.assign(new Error(`3 INVALID_ARGUMENT: bad parent ${req.parent}`), { code: 3 });
      const [, project, location] = m as unknown as [string, string, string];
      if (extra.fail?.[req.parent]) throw extra.fail[req.parent];
      const clusters = (byProject[project] ?? []).filter((c) => location === '-' || c.location === location || c.location.startsWith(`${location}-`));
      return [{ clusters: clusters.map((c) => ({ ...c, status: 'RUNNING', endpoint: '10.0.0.1' })), missingZones: extra.missingZones?.[req.parent] ?? [] }, undefined, undefined];
    }) as unknown as GkeClusterLister['listClusters'],
  };
}

const ref = { project: 'my-project', location: 'europe-west1', name: 'prod-a' };

describe('GKE discovery: labels to data planes', () => {
  it('reads id, enabled and execution labels (weights in percent) from the documented labels, with defaults', () => {
    expect(
      dataPlaneFromLabels(ref, {
        'flyte-credsync-label-team1': '100',
        'flyte-credsync-label-gpu': '25',
        'flyte-credsync-label-spot_pool': '0',
        'flyte-credsync-enabled': 'false',
        'flyte-credsync-data-plane': 'true',
        env: 'prod',
      }, Object.keys(SELECTOR)),
    ).toEqual({
      id: 'prod-a',
      access: { type: 'gke', project: 'my-project', location: 'europe-west1', clusterName: 'prod-a' },
      labels: { team1: 1, gpu: 0.25, spot_pool: 0 },
      enabled: false,
      state: 'active',
      namespace: 'flyte',
      serviceAccount: 'flyteadmin',
      tokenSecret: 'flyteadmin-token',
    });
    expect(dataPlaneFromLabels(ref, { 'flyte-credsync-id': 'prod_west' })).toMatchObject({ id: 'prod_west', labels: {}, enabled: true });
  });

  it('says what is wrong with malformed labels, validated like written configuration', () => {
    const bad = (labels: Record<string, string>) => dataPlaneFromLabels(ref, labels, Object.keys(SELECTOR));
    expect(bad({ 'flyte-credsync-label-team1': '150' })).toBe('label flyte-credsync-label-team1: weight must be in [0, 1] (written in percent: 0 to 100)');
    expect(bad({ 'flyte-credsync-label-team1': 'half' })).toBe('label flyte-credsync-label-team1: "half" is not a weight in percent (an integer 0 to 100)');
    expect(bad({ 'flyte-credsync-label-team1': '' })).toBe('label flyte-credsync-label-team1: "" is not a weight in percent (an integer 0 to 100)');
    expect(bad({ 'flyte-credsync-label-': '10' })).toBe('label flyte-credsync-label-: names no execution label');
    expect(bad({ 'flyte-credsync-label--x': '10' })).toBe('label flyte-credsync-label--x: labels must be lower-case alphanumerics, -, _ or .');
    expect(bad({ 'flyte-credsync-id': '-x' })).toBe('label flyte-credsync-id (or the cluster name): must be lower-case alphanumerics, - or _, start and end alphanumeric, max 63');
    expect(bad({ 'flyte-credsync-enabled': 'yes' })).toBe('label flyte-credsync-enabled: must be true or false, not "yes"');
    // A typo is not silently ignored (the selector's own labels are allowed).
    expect(bad({ 'flyte-credsync-enable': 'false', 'flyte-credsync-data-plane': 'true' })).toBe(
      'label flyte-credsync-enable: unknown (known: flyte-credsync-id, flyte-credsync-enabled, flyte-credsync-label-<name>)',
    );
    // Every problem at once.
    expect(bad({ 'flyte-credsync-label-a': 'x', 'flyte-credsync-enabled': 'no' })).toBe(
      'label flyte-credsync-label-a: "x" is not a weight in percent (an integer 0 to 100); label flyte-credsync-enabled: must be true or false, not "no"',
    );
  });
});

describe('GKE discovery: listing', () => {
  const clusters: Record<string, StandInCluster[]> = {
    'proj-one': [
      { name: 'good', location: 'europe-west1', resourceLabels: { ...SELECTOR, 'flyte-credsync-label-team1': '50' } },
      { name: 'zonal', location: 'europe-west1-b', resourceLabels: { ...SELECTOR, 'flyte-credsync-id': 'eu-zonal' } },
      { name: 'bad', location: 'us-central1', resourceLabels: { ...SELECTOR, 'flyte-credsync-label-team1': '200' } },
      { name: 'other', location: 'europe-west1', resourceLabels: { 'flyte-credsync-data-plane': 'false' } },
      { name: 'unlabelled', location: 'europe-west1' },
    ],
    'proj-two': [{ name: 'second', location: 'asia-east1', resourceLabels: SELECTOR }],
  };

  it('lists every project x location ("-": every location), keeps the matching clusters, skips malformed ones with a reason', async () => {
    const api = lister(clusters);
    const r = await discoverGke({ projects: ['proj-one', 'proj-two'], locations: ['-'], labels: SELECTOR }, api);
    expect(api.parents).toEqual(['projects/proj-one/locations/-', 'projects/proj-two/locations/-']);
    expect(r.dataPlanes.map((d) => [d.id, d.access, d.labels])).toEqual([
      ['good', { type: 'gke', project: 'proj-one', location: 'europe-west1', clusterName: 'good' }, { team1: 0.5 }],
      ['eu-zonal', { type: 'gke', project: 'proj-one', location: 'europe-west1-b', clusterName: 'zonal' }, {}],
      ['second', { type: 'gke', project: 'proj-two', location: 'asia-east1', clusterName: 'second' }, {}],
    ]);
    expect(r.skipped).toEqual([
      { source: 'gke:proj-one/us-central1/bad', reason: 'label flyte-credsync-label-team1: weight must be in [0, 1] (written in percent: 0 to 100)' },
    ]);
  });

  it('named locations: each is listed; a cluster listed twice (a region and its zone) counts once', async () => {
    const api = lister(clusters);
    const r = await discoverGke({ projects: ['proj-one', 'proj-one'], locations: ['europe-west1', 'europe-west1-b'], labels: SELECTOR }, api);
    expect(api.parents).toEqual(['projects/proj-one/locations/europe-west1', 'projects/proj-one/locations/europe-west1-b']);
    expect(r.dataPlanes.map((d) => d.id)).toEqual(['good', 'eu-zonal']);
    expect(r.skipped).toEqual([]);
  });

  it('a failed or incomplete listing fails discovery as a whole (an incomplete list would disable the missing data planes)', async () => {
    const denied = lister(clusters, { fail: { 'projects/proj-two/locations/-': Object.assign(new Error('7 PERMISSION_DENIED: container.clusters.list'), { code: 7 }) } });
    await expect(discoverGke({ projects: ['proj-one', 'proj-two'], locations: ['-'], labels: SELECTOR }, denied)).rejects.toMatchObject({
      code: 'CLUSTER_UNREACHABLE',
      message: 'GKE discovery in projects/proj-two/locations/-: listClusters: 7 PERMISSION_DENIED: container.clusters.list',
    });
    const partial = lister(clusters, { missingZones: { 'projects/proj-one/locations/-': ['us-central1-a'] } });
    await expect(discoverGke({ projects: ['proj-one'], locations: ['-'], labels: SELECTOR }, partial)).rejects.toThrow(
      'GKE discovery in projects/proj-one/locations/-: GKE could not list the clusters of us-central1-a (missingZones); not using an incomplete list',
    );
  });

  it('merging: a written entry wins; two discovered clusters claiming one id are both skipped', async () => {
    const r = await discoverGke(
      { projects: ['proj-one'], locations: ['-'], labels: SELECTOR },
      lister({
        'proj-one': [
          { name: 'dp1', location: 'europe-west1', resourceLabels: SELECTOR },
          { name: 'a', location: 'europe-west1', resourceLabels: { ...SELECTOR, 'flyte-credsync-id': 'twin' } },
          { name: 'b', location: 'us-east1', resourceLabels: { ...SELECTOR, 'flyte-credsync-id': 'twin' } },
          { name: 'fresh', location: 'us-east1', resourceLabels: SELECTOR },
        ],
      }),
    );
    const m = mergeDiscovered(testConfig(['dp1']).dataPlanes, r);
    expect(m.dataPlanes.map((x) => [x.id, x.access.type])).toEqual([['dp1', 'kubeconfig'], ['fresh', 'gke']]);
    expect(m.skipped).toEqual([
      { source: 'gke:proj-one/europe-west1/a', reason: 'id "twin" is claimed by more than one discovered cluster' },
      { source: 'gke:proj-one/us-east1/b', reason: 'id "twin" is claimed by more than one discovered cluster' },
    ]);
  });
});

describe('GKE discovery: configuration', () => {
  const base = {
    controlPlane: { access: { type: 'kubeconfig', context: 'control' }, defaultExecutionLabel: 'team1' },
    store: { gcp: { project: 'my-project' } },
  };

  it('a configuration that only discovers GKE clusters is valid; locations default to every location', () => {
    const cfg = parseConfig({ ...base, discovery: { gke: { projects: ['proj-one'], labels: SELECTOR } } });
    expect(cfg.discovery?.gke).toEqual({ projects: ['proj-one'], locations: ['-'], labels: SELECTOR });
  });

  it('rejects bad projects, locations and selectors with the path of the field, all at once', () => {
    let err: unknown;
    try {
      parseConfig({ ...base, discovery: { gke: { projects: ['P'], locations: ['-', 'europe-west1', 'mars'], labels: { 'Bad.Key': 'x', ok: 'Not Ok' }, extra: 1 } } });
    } catch (e) {
      err = e;
    }
    expect(err).toBeInstanceOf(ConfigError);
    const text = (err as Error).message;
    for (const part of [
      'discovery.gke.projects[0]: must be a GCP project id',
      'discovery.gke.locations[2]: must be a GCP region or zone such as europe-west1, or - for every location',
      'discovery.gke.locations: "-" already means every location: list it alone',
      'discovery.gke.labels.Bad.Key: label keys: lower-case, start with a letter, max 63',
      'discovery.gke.labels.ok: label values: lower-case, digits, _ or -, max 63',
      'discovery.gke: unknown key(s): discovery.gke.extra',
    ])
      expect(text).toContain(part);
    expect(() => parseConfig({ ...base, discovery: { gke: { projects: ['proj-one'], labels: {} } } })).toThrow('discovery.gke.labels: give at least one label to select data planes');
    expect(() => parseConfig({ ...base, discovery: { gke: { projects: ['proj-one'], locations: ['-', 'us-east1'], labels: SELECTOR } } })).toThrow(
      'discovery.gke.locations: "-" already means every location: list it alone',
    );
  });
});

/**
 * A real EKSClient answering ListClusters/DescribeCluster from memory (middleware at the initialize
 * step); `unlisted` clusters are known to DescribeCluster but not (yet) listed, as right after creation.
 */
function memoryEks(clusters: Record<string, Record<string, string>>, unlisted: string[] = []): EKSClient {
  const client = new EKSClient({ region: 'us-east-1', credentials: { accessKeyId: 'AKIDEXAMPLE', secretAccessKey: 'x' } });
  client.middlewareStack.add(
    () => async (args) => {
      const input = args.input as { name?: string };
      if (input.name === undefined)
        return { output: { clusters: Object.keys(clusters).filter((n) => !unlisted.includes(n)), $metadata: {} } as ListClustersCommandOutput, response: {} };
      if (!clusters[input.name]) throw Object.assign(new Error(`No cluster found for name: ${input.name}.`), { name: 'ResourceNotFoundException' });
      return { output: { cluster: { name: input.name, tags: clusters[input.name] }, $metadata: {} } as DescribeClusterCommandOutput, response: {} };
    },
    { step: 'initialize', name: 'inMemoryEks' },
  );
  return client;
}

describe('resolveDataPlanes with EKS and GKE discovery', () => {
  const cfg = parseConfig({
    controlPlane: { access: { type: 'kubeconfig', context: 'control' }, defaultExecutionLabel: 'team1' },
    store: { aws: { region: 'us-east-1' } },
    dataPlanes: [{ id: 'written', access: { type: 'kubeconfig', context: 'w' }, labels: { team1: 1 } }],
    discovery: {
      eks: { regions: ['us-east-1'], tags: { 'flyte-credsync/data-plane': 'true' } },
      gke: { projects: ['proj-one'], labels: SELECTOR },
    },
  });
  const eksClusters = {
    'eks-a': { 'flyte-credsync/data-plane': 'true', 'flyte-credsync/labels': 'team1=0.5' },
    'eks-bad': { 'flyte-credsync/data-plane': 'true', 'flyte-credsync/enabled': 'maybe' },
    'eks-twin': { 'flyte-credsync/data-plane': 'true', 'flyte-credsync/id': 'twin' },
    'eks-written': { 'flyte-credsync/data-plane': 'true', 'flyte-credsync/id': 'written' },
  };
  const eks = memoryEks(eksClusters);
  const gke = lister({
    'proj-one': [
      { name: 'gke-a', location: 'europe-west1', resourceLabels: { ...SELECTOR, 'flyte-credsync-label-team1': '50', 'flyte-credsync-label-gpu': '100' } },
      { name: 'gke-bad', location: 'europe-west1', resourceLabels: { ...SELECTOR, 'flyte-credsync-label-team1': 'lots' } },
      { name: 'gke-twin', location: 'europe-west1', resourceLabels: { ...SELECTOR, 'flyte-credsync-id': 'twin' } },
      { name: 'gke-written', location: 'europe-west1', resourceLabels: { ...SELECTOR, 'flyte-credsync-id': 'written' } },
    ],
  });

  it('adds both clouds\' clusters; the written entry wins; an id claimed in both clouds is skipped; malformed ones are reported', async () => {
    const r = await resolveDataPlanes(cfg, { eksClient: () => eks, gkeClusters: async () => gke });
    expect(r.config.dataPlanes.map((d) => [d.id, d.access.type, d.labels])).toEqual([
      ['written', 'kubeconfig', { team1: 1 }],
      ['eks-a', 'eks', { team1: 0.5 }],
      ['gke-a', 'gke', { team1: 0.5, gpu: 1 }],
    ]);
    expect(r.discovery).toEqual({
      added: ['eks-a', 'gke-a'],
      skipped: [
        { source: 'eks:us-east-1/eks-bad', reason: 'tag flyte-credsync/enabled: must be true or false, not "maybe"' },
        { source: 'gke:proj-one/europe-west1/gke-bad', reason: 'label flyte-credsync-label-team1: "lots" is not a weight in percent (an integer 0 to 100)' },
        { source: 'eks:us-east-1/eks-twin', reason: 'id "twin" is claimed by more than one discovered cluster' },
        { source: 'gke:proj-one/europe-west1/gke-twin', reason: 'id "twin" is claimed by more than one discovered cluster' },
      ],
    });
  });

  it('a cluster-created event resolves the same complete list (a missing data plane would be rendered as removed), plus its cluster if not listed yet', async () => {
    const full = await resolveDataPlanes(cfg, { eksClient: () => eks, gkeClusters: async () => gke });
    const event = await resolveDataPlanes(cfg, { eksClient: () => eks, gkeClusters: async () => gke, onlyEksCluster: { name: 'eks-a', region: 'us-east-1' } });
    expect(event).toEqual(full);
    const fresh = memoryEks({ ...eksClusters, 'eks-new': { 'flyte-credsync/data-plane': 'true' } }, ['eks-new']);
    const r = await resolveDataPlanes(cfg, { eksClient: () => fresh, gkeClusters: async () => gke, onlyEksCluster: { name: 'eks-new' } });
    expect(r.config.dataPlanes.map((d) => d.id)).toEqual(['written', 'eks-a', 'eks-new', 'gke-a']);
    const unknown = await resolveDataPlanes(cfg, { eksClient: () => fresh, gkeClusters: async () => gke, onlyEksCluster: { name: 'eks-gone', region: 'us-east-1' } });
    expect(unknown.config.dataPlanes.map((d) => d.id)).toEqual(['written', 'eks-a', 'gke-a']);
  });

  it('with GKE discovery only, the merged result is checked like written configuration', async () => {
    const only = parseConfig({
      controlPlane: { access: { type: 'kubeconfig', context: 'control' }, defaultExecutionLabel: 'team1' },
      store: { aws: { region: 'us-east-1' } },
      discovery: { gke: { projects: ['proj-one'], labels: SELECTOR } },
    });
    const none = lister({ 'proj-one': [{ name: 'gke-off', location: 'europe-west1', resourceLabels: { ...SELECTOR, 'flyte-credsync-enabled': 'false' } }] });
    await expect(resolveDataPlanes(only, { gkeClusters: async () => none })).rejects.toThrow('at least one data plane must be enabled');
  });
});
