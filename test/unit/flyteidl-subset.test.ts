/**
 * FlyteAdmin's client carries only part of the Flyte IDL (lib/labels/flyteidl-subset.ts, a
 * protobufjs descriptor loaded with protobufjs/light). This proves the checked-in descriptor is
 * what scripts/flyteidl-subset.ts makes from the installed @flyteorg/flyteidl `.proto` files, that
 * every message it holds has the full IDL's fields, and that the client's calls go out with the
 * full IDL's method paths and bytes.
 */
import { describe, expect, it } from '@jest/globals';
import { readFileSync } from 'node:fs';
import protobuf from 'protobufjs';
import { EXECUTION_CLUSTER_LABEL, services } from '../../lib/labels/idl.ts';
import { FLYTEIDL_SUBSET_JSON, FLYTEIDL_VERSION } from '../../lib/labels/flyteidl-subset.ts';
import { loadFullIdl, PROTO_ROOT, SUBSET_FILE, SUBSET_METHODS, subsetModule } from '../../scripts/flyteidl-subset.ts';

const full = loadFullIdl();
const subset = protobuf.Root.fromJSON(JSON.parse(FLYTEIDL_SUBSET_JSON) as protobuf.INamespace).resolveAll();

/** What decides a field's encoding and meaning. */
const fieldShape = (f: protobuf.Field) => ({
  id: f.id,
  type: f.type,
  rule: f.repeated ? 'repeated' : f.optional ? 'optional' : 'singular',
  packed: f.packed,
  map: f instanceof protobuf.MapField ? f.keyType : undefined,
  resolved: f.resolvedType?.fullName,
  oneof: f.partOf?.name,
  presence: f.hasPresence,
});

function messages(ns: protobuf.NamespaceBase): protobuf.Type[] {
  return ns.nestedArray.flatMap((c) => [...(c instanceof protobuf.Type ? [c] : []), ...(c instanceof protobuf.Namespace ? messages(c) : [])]);
}

describe('the Flyte IDL subset', () => {
  it('is what scripts/flyteidl-subset.ts makes from the installed @flyteorg/flyteidl (else: run it)', () => {
    const installed = (JSON.parse(readFileSync(`${PROTO_ROOT}/../package.json`, 'utf8')) as { version: string }).version;
    expect(FLYTEIDL_VERSION).toBe(installed);
    expect(readFileSync(SUBSET_FILE, 'utf8')).toBe(subsetModule());
  });

  it("holds every message its calls reach, each with the full IDL's fields", () => {
    const types = messages(subset).filter((t) => t.fieldsArray.length || full.lookupType(t.fullName).fieldsArray.length === 0);
    expect(types.length).toBeGreaterThan(30);
    const differ = types.filter((t) => JSON.stringify(t.fieldsArray.map(fieldShape)) !== JSON.stringify(full.lookupType(t.fullName).fieldsArray.map(fieldShape)));
    expect(differ.map((t) => t.fullName)).toEqual([]);
    expect(EXECUTION_CLUSTER_LABEL).toBe(full.lookupEnum('flyteidl.admin.MatchableResource').values['EXECUTION_CLUSTER_LABEL']);
    expect(EXECUTION_CLUSTER_LABEL).toBe(3);
  });

  it("holds the listed methods only, with the full IDL's request and response types", () => {
    for (const [name, methods] of Object.entries(SUBSET_METHODS)) {
      const mine = subset.lookupService(name);
      const theirs = full.lookupService(name);
      expect(Object.keys(mine.methods).sort()).toEqual([...methods].sort());
      const types = (m: protobuf.Method) => (m.resolve(), `${m.name}: ${m.resolvedRequestType!.fullName} -> ${m.resolvedResponseType!.fullName}`);
      expect(methods.map((m) => types(mine.methods[m]!))).toEqual(methods.map((m) => types(theirs.methods[m]!)));
    }
  });

  it("sends the client's calls with the full IDL's method names and bytes, and decodes the answers", async () => {
    const sent: Array<{ method: string; bytes: string }> = [];
    const answer = full.lookupType('flyteidl.admin.ListMatchableAttributesResponse');
    const reply = answer.encode({ configurations: [{ project: 'p', domain: 'd', attributes: { executionClusterLabel: { value: 'team1' } } }] }).finish();
    const rpc: protobuf.RPCImpl = (method, data, cb) => {
      sent.push({ method: method.name, bytes: Buffer.from(data).toString('hex') });
      cb(null, method.name === 'ListMatchableAttributes' ? reply : new Uint8Array());
    };
    const admin = services.admin(rpc);
    const attrs = { project: 'p', domain: 'production', workflow: 'wf', matchingAttributes: { executionClusterLabel: { value: 'team1' } } };
    await admin.updateWorkflowAttributes({ attributes: attrs });
    await admin.deleteProjectDomainAttributes({ project: 'p', domain: 'production', resourceType: EXECUTION_CLUSTER_LABEL });
    const listed = await admin.listMatchableAttributes({ resourceType: EXECUTION_CLUSTER_LABEL });
    expect(listed.configurations?.[0]?.attributes?.executionClusterLabel?.value).toBe('team1');
    const enc = (type: string, msg: object) => Buffer.from(full.lookupType(type).encode(msg).finish()).toString('hex');
    expect(sent).toEqual([
      { method: 'UpdateWorkflowAttributes', bytes: enc('flyteidl.admin.WorkflowAttributesUpdateRequest', { attributes: attrs }) },
      { method: 'DeleteProjectDomainAttributes', bytes: enc('flyteidl.admin.ProjectDomainAttributesDeleteRequest', { project: 'p', domain: 'production', resourceType: 3 }) },
      { method: 'ListMatchableAttributes', bytes: enc('flyteidl.admin.ListMatchableAttributesRequest', { resourceType: 3 }) },
    ]);
    expect(sent[0]!.bytes).toContain(Buffer.from('team1').toString('hex'));
  });
});
