/**
 * Property-based tests (fast-check) of everything that parses input from outside: the
 * configuration (as an object and as YAML/JSON text), the Lambda events (EKS CloudTrail and state
 * change, the SQS retry envelope), the Cloud Functions' GKE audit-log events (CloudEvent, Pub/Sub)
 * and the resync request. For random and mutated inputs each parser either accepts with the same
 * meaning (what it returns is what the input said) or refuses with a coded error that names the
 * field; never another exception (a crash), never an unbounded message, never a raw control
 * character in a message. Fixed seeds and bounded run counts: the same inputs on every run, and a
 * run of this file costs seconds on a loaded machine. A failure prints its seed and the shrunk
 * counterexample.
 */
import { describe, expect, it } from '@jest/globals';
import fc from 'fast-check';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { stringify as toYaml } from 'yaml';
import { parseConfig, parseConfigText } from '../../lib/config/load.ts';
import { ConfigError, CredsyncError, EventError, MAX_MESSAGE_CHARS } from '../../lib/errors.ts';
import { parseClusterEvent, unwrapRetryEnvelope } from '../../lib/runtime/lambda/events.ts';
import { parseGkeAuditEvent } from '../../lib/runtime/gcf/events.ts';
import { MAX_RESYNC_CLUSTERS, parseResyncEvent } from '../../lib/runtime/requests.ts';

/** The same inputs on every run (CI included); a failure names the seed and the path to reproduce. */
const SEED = 20_261_204;
const RUNS = 200;
const opts = (numRuns = RUNS) => ({ seed: SEED, numRuns, endOnFailure: true });

/** A raw control character (what an echo must never carry): C0 but the newlines a ConfigError uses to list issues, DEL, C1. */
// eslint-disable-next-line no-control-regex
const RAW_CONTROL = /[\u0000-\u0009\u000b-\u001f\u007f-\u009f\u2028\u2029]/;
/** Bounded: what any message may be at most (an error's cap), and an event's much less. */
const MAX_EVENT_MESSAGE = 1_500;

const events = (name: string): unknown => JSON.parse(readFileSync(join(import.meta.dirname, '..', '..', 'events', name), 'utf8'));

/** Any JSON value, small: what a random body or a random field holds. */
const anyJson = fc.jsonValue({ maxDepth: 4 }).map((v) => v as unknown);
/** Strings a hostile sender would try: control characters, long runs, unicode. */
const nastyString = fc.oneof(
  fc.string({ maxLength: 40 }),
  fc.string({ unit: 'binary', maxLength: 40 }),
  fc.constantFrom('', ' ', '\u001b[31m', 'a\nb', '\u202eevil', 'x'.repeat(5000), '../../etc/passwd', '${x}', '*a', '&a', '- [', '{', '\u0000'),
);

/** A mutation of a JSON-like value at a random path: delete, replace, add an unknown key, wrap. */
type Mutation = { path: Array<string | number>; kind: 'delete' | 'replace' | 'add' | 'wrap'; value: unknown; key: string };
const mutation = fc.record({ pick: fc.nat(), kind: fc.constantFrom<Mutation['kind']>('delete', 'replace', 'add', 'wrap'), value: fc.oneof(anyJson, nastyString), key: nastyString });

/** Every path of a JSON value, the root included. */
function paths(v: unknown, at: Array<string | number> = []): Array<Array<string | number>> {
  const out = [at];
  if (Array.isArray(v)) v.forEach((x, i) => out.push(...paths(x, [...at, i])));
  else if (v && typeof v === 'object') for (const [k, x] of Object.entries(v)) out.push(...paths(x, [...at, k]));
  return out;
}

/** A deep copy of `v` with one mutation applied; returns the copy and the path it touched. */
function mutate(v: unknown, m: { pick: number; kind: Mutation['kind']; value: unknown; key: string }): { value: unknown; path: Array<string | number> } {
  const copy = structuredClone(v);
  const all = paths(copy);
  const path = all[m.pick % all.length]!;
  if (path.length === 0) return { value: m.kind === 'wrap' ? [copy] : m.kind === 'replace' ? m.value : copy, path };
  const parent = path.slice(0, -1).reduce<any>((o, k) => o[k], copy);
  const last = path.at(-1)!;
  if (m.kind === 'delete') Array.isArray(parent) ? parent.splice(Number(last), 1) : delete parent[last];
  else if (m.kind === 'replace') parent[last] = m.value;
  else if (m.kind === 'wrap') parent[last] = [parent[last]];
  else if (parent[last] && typeof parent[last] === 'object' && !Array.isArray(parent[last])) parent[last][m.key || 'x'] = m.value;
  else parent[last] = m.value;
  return { value: copy, path };
}

/** Checks what any parser's refusal must be: its own coded error, bounded, no raw control character. */
function expectCleanRefusal(err: unknown, kind: typeof ConfigError | typeof EventError, max: number): void {
  if (!(err instanceof kind)) throw new Error(`not a ${kind.name} (a crash): ${err instanceof Error ? `${err.name}: ${err.message}` : String(err)}`);
  expect(err).toBeInstanceOf(CredsyncError);
  expect(err.code).toBe(kind === ConfigError ? 'CONFIG_INVALID' : 'EVENT_INVALID');
  expect(err.message.length).toBeLessThanOrEqual(max);
  expect(err.message).not.toMatch(RAW_CONTROL);
}

// ---------------------------------------------------------------------------------------------
// The configuration
// ---------------------------------------------------------------------------------------------

const id = fc.stringMatching(/^[a-z0-9]([a-z0-9_-]{0,20}[a-z0-9])?$/);
const label = fc.stringMatching(/^[a-z0-9]([a-z0-9_.-]{0,10}[a-z0-9])?$/);
const weight = fc.constantFrom(0, 0.25, 0.5, 1);
const access = fc.oneof(
  fc.record({ type: fc.constant('kubeconfig'), context: fc.string({ minLength: 1, maxLength: 20 }).filter((s) => s.trim() === s && s.length > 0), path: fc.constant('/k/config') }),
  fc.record({ type: fc.constant('token'), endpoint: fc.constant('https://dp.example:6443'), caFile: fc.constant('/ca.crt'), tokenEnv: fc.constantFrom('DP_TOKEN', 'TOKEN_2') }),
);
/** A valid configuration: distinct ids, lower-case labels, weights in [0, 1], a default label some enabled data plane carries. */
const validConfig = fc
  .uniqueArray(id, { minLength: 1, maxLength: 6 })
  .chain((ids) =>
    fc.tuple(
      fc.constant(ids),
      fc.array(fc.tuple(access, fc.dictionary(label, weight, { minKeys: 1, maxKeys: 3 }), fc.boolean()), { minLength: ids.length, maxLength: ids.length }),
      fc.constantFrom('us-east-1', 'eu-west-1'),
      fc.integer({ min: 1, max: 128 }),
    ),
  )
  .map(([ids, planes, region, concurrency]) => {
    const dataPlanes = ids.map((dpId, i) => ({ id: dpId, access: planes[i]![0], labels: planes[i]![1], enabled: planes[i]![2] || i === 0 }));
    return {
      controlPlane: { access: { type: 'kubeconfig', context: 'control' }, defaultExecutionLabel: Object.keys(dataPlanes[0]!.labels)[0]! },
      store: { aws: { region } },
      dataPlanes,
      concurrency,
    };
  });

/** What the input said, read back from a parsed configuration. */
function meaning(cfg: ReturnType<typeof parseConfig>) {
  return {
    ids: cfg.dataPlanes.map((d) => d.id),
    labels: cfg.dataPlanes.map((d) => d.labels),
    enabled: cfg.dataPlanes.map((d) => d.enabled),
    access: cfg.dataPlanes.map((d) => d.access),
    defaultLabel: cfg.controlPlane.defaultExecutionLabel,
    concurrency: cfg.concurrency,
  };
}

/** Issue paths a mutation at `path` may explain: the field itself, what contains it, what it contains, and the checks across fields. */
function relates(issuePath: string, mutated: Array<string | number>): boolean {
  const dotted = (p: Array<string | number>) => p.map((k, i) => (typeof k === 'number' ? `[${k}]` : i === 0 ? k : `.${k}`)).join('');
  const m = dotted(mutated.map((k) => (typeof k === 'string' ? k.replace(/[\u0000-\u001f\u007f-\u009f\u2028\u2029]/g, '') : k)));
  const norm = (s: string) => s.replace(/\\x[0-9a-f]{2}|\\u[0-9a-f]{4}|\\[nrt]/g, '');
  const p = norm(issuePath);
  return p === '' || m === '' || p.startsWith(m) || m.startsWith(p) || /^(controlPlane\.defaultExecutionLabel|dataPlanes(\[\d+\])?(\.id)?)$/.test(p);
}

describe('configuration: accepted with the same meaning, or refused naming the field', () => {
  it('every valid configuration is accepted as written, and as YAML and as JSON text with the same meaning', () => {
    fc.assert(
      fc.property(validConfig, (input) => {
        const cfg = parseConfig(input);
        expect(meaning(cfg)).toEqual({
          ids: input.dataPlanes.map((d) => d.id),
          labels: input.dataPlanes.map((d) => d.labels),
          enabled: input.dataPlanes.map((d) => d.enabled),
          access: input.dataPlanes.map((d) => d.access),
          defaultLabel: input.controlPlane.defaultExecutionLabel,
          concurrency: input.concurrency,
        });
        const base = { baseDir: '/' };
        expect(meaning(parseConfigText(toYaml(input), 'c.yaml', base))).toEqual(meaning(cfg));
        expect(meaning(parseConfigText(JSON.stringify(input), 'c.json', { ...base, json: true }))).toEqual(meaning(cfg));
      }),
      opts(),
    );
  });

  it('a mutated configuration is accepted with the meaning it says, or refused with CONFIG_INVALID naming a field the mutation touched', () => {
    fc.assert(
      fc.property(validConfig, mutation, (input, m) => {
        const { value, path } = mutate(input, m);
        let cfg;
        try {
          cfg = parseConfig(value);
        } catch (err) {
          expectCleanRefusal(err, ConfigError, MAX_MESSAGE_CHARS + 100);
          const issues = (err as ConfigError).issues;
          expect(issues.length).toBeGreaterThan(0);
          expect(issues.some((i) => relates(i.path, path))).toBe(true);
          return;
        }
        // Accepted: each data plane is what the mutated input says it is.
        const dps = (value as { dataPlanes: Array<{ id: string; labels?: Record<string, number>; enabled?: boolean }> }).dataPlanes;
        expect(cfg.dataPlanes.map((d) => d.id)).toEqual(dps.map((d) => d.id));
        expect(cfg.dataPlanes.map((d) => d.labels)).toEqual(dps.map((d) => d.labels ?? {}));
        expect(cfg.dataPlanes.map((d) => d.enabled)).toEqual(dps.map((d) => d.enabled ?? true));
      }),
      opts(400),
    );
  });

  it('random and mutated text (YAML and JSON) is accepted or refused with CONFIG_INVALID: no crash, bounded, no raw control character', () => {
    const text = fc.oneof(
      fc.string({ maxLength: 200 }),
      fc.string({ unit: 'binary', maxLength: 200 }),
      validConfig.map((c) => toYaml(c)),
      fc.tuple(validConfig, fc.nat(), fc.nat({ max: 20 }), nastyString).map(([c, at, cut, ins]) => {
        const y = toYaml(c);
        const i = at % (y.length + 1);
        return y.slice(0, i) + ins + y.slice(Math.min(y.length, i + cut));
      }),
      fc.nat({ max: 20_000 }).map((n) => '['.repeat(n)),
      fc.nat({ max: 5_000 }).map((n) => 'a:\n' + Array.from({ length: Math.min(n, 3000) }, (_, i) => ' '.repeat(i + 1) + '- ').join('\n')),
      fc.integer({ min: 1, max: 9 }).map((levels) => {
        let y = 'a0: &a0 [x, x, x, x, x, x, x, x, x, x]\n';
        for (let i = 1; i <= levels; i++) y += `a${i}: &a${i} [${Array(10).fill(`*a${i - 1}`).join(', ')}]\n`;
        return y;
      }),
    );
    fc.assert(
      fc.property(text, fc.boolean(), (t, json) => {
        try {
          parseConfigText(t, 'c', { json, baseDir: '/' });
        } catch (err) {
          expectCleanRefusal(err, ConfigError, MAX_MESSAGE_CHARS + 100);
        }
      }),
      opts(),
    );
  });
});

// ---------------------------------------------------------------------------------------------
// The Lambda events and the Cloud Functions' CloudEvents
// ---------------------------------------------------------------------------------------------

describe('events: accepted with the same meaning, or refused with EVENT_INVALID naming the field', () => {
  const eksCreate = events('eks-create-cluster.json') as { detail: { requestParameters: { name: string } }; region: string };
  const eksActive = events('eks-cluster-active.json') as { detail: { clusterName: string }; region: string };
  const gkeCloudEvent = events('gke-cluster-created-cloudevent.json');
  const gkePubsub = events('gke-cluster-created-pubsub.json');

  it('EKS: a mutated CloudTrail or state-change event names the cluster the input names, or is refused cleanly', () => {
    fc.assert(
      fc.property(fc.constantFrom<unknown>(eksCreate, eksActive), mutation, (ev, m) => {
        const { value } = mutate(ev, m);
        let r;
        try {
          r = parseClusterEvent(value);
        } catch (err) {
          expectCleanRefusal(err, EventError, MAX_EVENT_MESSAGE);
          return;
        }
        if (!r) return; // well-formed, not a creation (a failed call, another status)
        const v = value as { detail: { requestParameters?: { name?: unknown }; clusterName?: unknown; name?: unknown }; region?: unknown };
        const named = r.kind === 'CreateCluster' ? v.detail.requestParameters?.name : (v.detail.clusterName ?? v.detail.name);
        expect(r.clusterName).toBe(named);
        if (r.region !== undefined) expect(r.region).toBe(v.region);
      }),
      opts(),
    );
  });

  it('EKS: any JSON, and any SQS envelope around it, is refused cleanly or read as such', () => {
    const envelope = fc.oneof(anyJson, anyJson.map((body) => ({ Records: [{ eventSource: 'aws:sqs', body: JSON.stringify(body) }] })), fc.array(anyJson, { maxLength: 3 }).map((bodies) => ({ Records: bodies.map((b) => ({ eventSource: 'aws:sqs', body: typeof b === 'string' ? b : JSON.stringify(b) })) })));
    fc.assert(
      fc.property(envelope, (ev) => {
        try {
          const { event } = unwrapRetryEnvelope(ev);
          parseClusterEvent(event);
        } catch (err) {
          expectCleanRefusal(err, EventError, MAX_EVENT_MESSAGE);
        }
      }),
      opts(),
    );
  });

  it('GKE: a mutated audit-log CloudEvent or Pub/Sub push names the project, location and cluster of its resource, or is refused cleanly', () => {
    fc.assert(
      fc.property(fc.constantFrom<unknown>(gkeCloudEvent, gkePubsub), mutation, (ev, m) => {
        const { value } = mutate(ev, m);
        let r;
        try {
          r = parseGkeAuditEvent(value);
        } catch (err) {
          expectCleanRefusal(err, EventError, MAX_EVENT_MESSAGE);
          return;
        }
        if (!r) return;
        // The cluster named is one the entry names (its resourceName, or its resource labels).
        const text = JSON.stringify(value) + (typeof (value as { message?: { data?: unknown } })?.message?.data === 'string' ? Buffer.from((value as { message: { data: string } }).message.data, 'base64').toString('utf8') : '');
        for (const part of [r.project, r.location, r.clusterName]) expect(text).toContain(JSON.stringify(part).slice(1, -1));
      }),
      opts(),
    );
  });

  it('GKE: any JSON or CloudEvent-shaped value is refused cleanly or read', () => {
    const cloudEvent = fc.record({ specversion: fc.constant('1.0'), type: fc.oneof(nastyString, fc.constantFrom('google.cloud.audit.log.v1.written', 'google.cloud.pubsub.topic.v1.messagePublished')), data: fc.oneof(anyJson, nastyString, fc.base64String({ maxLength: 60 })) });
    fc.assert(
      fc.property(fc.oneof(anyJson, cloudEvent, fc.record({ message: fc.record({ data: fc.oneof(fc.base64String({ maxLength: 80 }), nastyString) }) })), (ev) => {
        try {
          parseGkeAuditEvent(ev);
        } catch (err) {
          expectCleanRefusal(err, EventError, MAX_EVENT_MESSAGE);
        }
      }),
      opts(),
    );
  });
});

// ---------------------------------------------------------------------------------------------
// The resync request
// ---------------------------------------------------------------------------------------------

describe('the resync request: accepted with the same meaning, or refused naming the field', () => {
  it('random and mutated requests: what is accepted is exactly what was asked; a refusal names clusters or dryRun', () => {
    const request = fc.oneof(
      anyJson,
      fc.record({ clusters: fc.array(fc.oneof(id, nastyString), { maxLength: 5 }), dryRun: fc.oneof(fc.boolean(), anyJson) }, { requiredKeys: [] }),
      fc.tuple(fc.record({ clusters: fc.array(id, { minLength: 1, maxLength: 5 }), dryRun: fc.boolean() }), mutation).map(([r, m]) => mutate(r, m).value),
    );
    fc.assert(
      fc.property(request, (body) => {
        let r;
        try {
          r = parseResyncEvent(body);
        } catch (err) {
          expectCleanRefusal(err, EventError, MAX_EVENT_MESSAGE);
          expect((err as Error).message).toMatch(/^invalid resync event: (<root>|clusters|dryRun|clusters\.\d+)?/);
          return;
        }
        const b = (body ?? {}) as { clusters?: unknown; dryRun?: unknown };
        expect(r.clusters).toEqual(b.clusters);
        expect(r.dryRun).toEqual(b.dryRun);
      }),
      opts(),
    );
  });

  it('a request naming more data planes than any configuration has is refused with a bounded message', () => {
    const many = Array.from({ length: MAX_RESYNC_CLUSTERS + 1 }, (_, i) => `dp${i}`);
    let message = '';
    try {
      parseResyncEvent({ clusters: many });
    } catch (err) {
      expectCleanRefusal(err, EventError, MAX_EVENT_MESSAGE);
      message = (err as Error).message;
    }
    expect(message).toMatch(/^invalid resync event: clusters: /);
  });
});
