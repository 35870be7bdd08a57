/**
 * The FlyteAdmin STAND-IN of the local environment (test/env/flyteadmin.ts; FlyteAdmin itself is in
 * no package registry) keeps the flyteadmin v1.16.8 rules the labels code relies on. Through the
 * real client (its slice of the Flyte IDL, lib/labels/idl.ts, over gRPC).
 */
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { FlyteAdminClient } from '../../lib/labels/admin.ts';
import { EXECUTION_CLUSTER_LABEL } from '../../lib/labels/idl.ts';
import { loadTestEnv } from './helpers.ts';

let admin: FlyteAdminClient;
let project: string;

beforeAll(async () => {
  const env = loadTestEnv();
  admin = new FlyteAdminClient({ endpoint: env.flyteadmin.insecureEndpoint, insecure: true, timeoutMs: 10_000 });
  project = `standin-${Math.random().toString(36).slice(2, 8)}`;
  await admin.admin('RegisterProject', project, (s) => s.registerProject({ project: { id: project, name: project } }));
});

afterAll(() => admin?.close());

describe('FlyteAdmin stand-in', () => {
  it('Get answers the most specific row (inherited ones included), so reading exact rows needs List', async () => {
    await admin.admin('UpdateProjectAttributes', project, (s) =>
      s.updateProjectAttributes({ attributes: { project, matchingAttributes: { executionClusterLabel: { value: 'project-wide' } } } }),
    );
    await admin.setLabel({ project, domain: 'production' }, 'team1');
    const wf = await admin.admin('GetWorkflowAttributes', 'wf', (s) =>
      s.getWorkflowAttributes({ project, domain: 'production', workflow: 'never.set', resourceType: EXECUTION_CLUSTER_LABEL }),
    );
    expect(wf.attributes).toMatchObject({ project, domain: 'production', workflow: '', matchingAttributes: { executionClusterLabel: { value: 'team1' } } });
    const pd = await admin.admin('GetProjectDomainAttributes', 'pd', (s) => s.getProjectDomainAttributes({ project, domain: 'staging', resourceType: EXECUTION_CLUSTER_LABEL }));
    expect(pd.attributes?.matchingAttributes?.executionClusterLabel?.value).toBe('project-wide');
    const rows = (await admin.listLabels()).filter((r) => r.project === project);
    expect(rows.map((r) => [r.domain, r.label])).toEqual([
      ['production', 'team1'],
      ['', 'project-wide'],
    ]);
  });

  it('refuses unregistered projects, deletes a missing row without error, and answers UNIMPLEMENTED elsewhere', async () => {
    await expect(admin.setLabel({ project: 'not-registered', domain: 'production' }, 'team1')).rejects.toMatchObject({
      code: 'FLYTEADMIN_API',
      message: expect.stringContaining('INVALID_ARGUMENT: failed to validate that project [not-registered] and domain [production] are registered'),
    });
    await expect(admin.deleteLabel({ project, domain: 'development', workflow: 'nothing.here' })).resolves.toBeUndefined();
    await expect(admin.admin('GetProjectAttributes', 'project', (s) => s.getProjectAttributes({ project, resourceType: EXECUTION_CLUSTER_LABEL }))).rejects.toMatchObject({ message: expect.stringContaining('UNIMPLEMENTED') });
  });
});
