/**
 * Writes lib/gcp/protos-subset.ts: the part of Google's Secret Manager and GKE APIs that
 * lib/gcp/ calls, as a protobufjs JSON descriptor (a string, for JSON.parse), taken from the
 * descriptors the installed `@google-cloud/secret-manager` and `@google-cloud/container` ship
 * (build/protos/protos.json). lib/gcp/ loads it with `protobufjs/light` and calls the services
 * over `@grpc/grpc-js`, instead of the generated clients (google-gax and the whole APIs: 4.5 MB of
 * a Cloud Functions bundle).
 *
 *   node scripts/gcp-subset.ts          # after upgrading either package
 *
 * Answers are read through the subset: a field left out of a message is skipped when decoding (the
 * protobuf rule for unknown fields). GKE's Cluster message is cut down to the fields the sync reads
 * (KEEP_FIELDS); requests keep every field. test/unit/gcp-subset.test.ts fails when the checked-in
 * file differs from what this makes, and checks that what the subset encodes and decodes is what
 * the full descriptors do.
 */
import { createRequire } from 'node:module';
import { readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import protobuf from 'protobufjs';

const here = path.dirname(fileURLToPath(import.meta.url));
const require = createRequire(import.meta.url);
export const SUBSET_FILE = path.resolve(here, '..', 'lib', 'gcp', 'protos-subset.ts');

export const PACKAGES = ['@google-cloud/secret-manager', '@google-cloud/container'] as const;

/** The services and methods the subset keeps, and the package whose descriptor has them. */
export const SUBSET_METHODS: Record<string, { pkg: (typeof PACKAGES)[number]; methods: string[] }> = {
  'google.cloud.secretmanager.v1.SecretManagerService': {
    pkg: '@google-cloud/secret-manager',
    methods: ['GetSecret', 'CreateSecret', 'UpdateSecret', 'ListSecrets', 'AddSecretVersion', 'AccessSecretVersion', 'ListSecretVersions', 'DisableSecretVersion'],
  },
  'google.container.v1.ClusterManager': { pkg: '@google-cloud/container', methods: ['GetCluster', 'ListClusters'] },
};

/** Answer messages cut down to the fields the sync reads (lib/clusters/gke.ts, lib/discovery/gke.ts). */
export const KEEP_FIELDS: Record<string, string[]> = {
  'google.container.v1.Cluster': ['name', 'masterAuth', 'resourceLabels', 'zone', 'endpoint', 'status', 'location'],
  'google.container.v1.MasterAuth': ['clusterCaCertificate'],
};

export function packageVersion(pkg: string): string {
  return (JSON.parse(readFileSync(require.resolve(`${pkg}/package.json`), 'utf8')) as { version: string }).version;
}

/** The full descriptor a package ships. */
export function loadFull(pkg: string): protobuf.Root {
  const json = JSON.parse(readFileSync(path.join(path.dirname(require.resolve(`${pkg}/package.json`)), 'build', 'protos', 'protos.json'), 'utf8'));
  return protobuf.Root.fromJSON(json).resolveAll() as protobuf.Root;
}

type Json = Record<string, unknown>;

/** A type's or enum's own JSON without comments, options or nested types (emitted separately). */
function strip(json: object): Json {
  const { nested: _n, comment: _c, comments: _cs, options: _o, parsedOptions: _p, ...rest } = json as Json;
  if (rest['fields']) {
    const fields: Json = {};
    for (const [name, f] of Object.entries(rest['fields'] as Record<string, Json>)) {
      const { comment: _fc, options, ...field } = f;
      // Only the options that change the wire format are kept (packed); the rest are annotations.
      const packed = (options as Json | undefined)?.['packed'];
      fields[name] = packed === undefined ? field : { ...field, options: { packed } };
    }
    rest['fields'] = fields;
  }
  return rest;
}

/**
 * The descriptor of only what {@link SUBSET_METHODS} reach: their request and response messages and,
 * recursively, every message and enum their (kept) fields use.
 *
 * @throws Error when a listed service or method is not in the package's descriptor
 */
export function makeSubset(roots: Record<string, protobuf.Root> = Object.fromEntries(PACKAGES.map((p) => [p, loadFull(p)]))): Json {
  const out: Json = {};
  for (const [service, { pkg, methods }] of Object.entries(SUBSET_METHODS)) {
    const root = roots[pkg]!;
    const keep = new Set<protobuf.ReflectionObject>();
    const kept = (t: protobuf.Type) => {
      const only = KEEP_FIELDS[t.fullName.slice(1)];
      return only ? t.fieldsArray.filter((f) => only.includes(f.name)) : t.fieldsArray;
    };
    const visit = (t: protobuf.Type | protobuf.Enum) => {
      if (keep.has(t)) return;
      keep.add(t);
      if (t instanceof protobuf.Type) for (const f of kept(t)) if (f.resolvedType) visit(f.resolvedType);
    };
    const svc = root.lookupService(service);
    keep.add(svc);
    for (const m of methods) {
      const method = svc.methods[m];
      if (!method) throw new Error(`${service} has no method ${m} in ${pkg}`);
      method.resolve();
      visit(method.resolvedRequestType!);
      visit(method.resolvedResponseType!);
    }
    const emit = (ns: protobuf.NamespaceBase): Json | undefined => {
      const nested: Json = {};
      for (const child of ns.nestedArray) {
        let json: Json | undefined;
        if (child instanceof protobuf.Service) {
          if (!keep.has(child)) continue;
          const ms: Json = {};
          for (const m of methods) {
            const { options: _http, parsedOptions: _p, comment: _c, ...rest } = child.methods[m]!.toJSON() as unknown as Json;
            ms[m] = rest;
          }
          json = { methods: ms };
        } else if (child instanceof protobuf.Enum) {
          if (keep.has(child)) json = strip(child.toJSON());
        } else if (child instanceof protobuf.Type) {
          const inner = emit(child);
          if (keep.has(child)) {
            const own = strip(child.toJSON());
            const only = KEEP_FIELDS[child.fullName.slice(1)];
            if (only) own['fields'] = Object.fromEntries(Object.entries(own['fields'] as Json).filter(([n]) => only.includes(n)));
            // oneofs only group fields; a oneof whose fields were all left out goes too.
            if (own['oneofs']) {
              const fields = own['fields'] as Json;
              const oneofs = Object.fromEntries(
                Object.entries(own['oneofs'] as Record<string, { oneof: string[] }>)
                  .map(([n, o]) => [n, { oneof: o.oneof.filter((f) => f in fields) }] as const)
                  .filter(([, o]) => o.oneof.length),
              );
              if (Object.keys(oneofs).length) own['oneofs'] = oneofs;
              else delete own['oneofs'];
            }
            json = { ...own, ...(inner ? { nested: inner } : {}) };
          } else if (inner) json = { nested: inner };
        } else if (child instanceof protobuf.Namespace) {
          const inner = emit(child);
          if (inner) json = { nested: inner };
        }
        if (json) nested[child.name] = json;
      }
      return Object.keys(nested).length ? nested : undefined;
    };
    merge(out, { nested: emit(root) });
  }
  return out;
}

/** Deep merge of two descriptors (both packages ship google.protobuf.*: the same definitions). */
function merge(into: Json, from: Json): void {
  for (const [k, v] of Object.entries(from)) {
    const cur = into[k];
    if (cur && typeof cur === 'object' && v && typeof v === 'object' && !Array.isArray(v)) merge(cur as Json, v as Json);
    else into[k] = v;
  }
}

/** The text of lib/gcp/protos-subset.ts for the installed packages. */
export function subsetModule(): string {
  const versions = PACKAGES.map((p) => `${p} ${packageVersion(p)}`).join(', ');
  return (
    `// Generated by scripts/gcp-subset.ts from the descriptors of ${versions}: do not edit.\n` +
    `// The protobufjs JSON descriptor of what lib/gcp/ calls (${Object.keys(SUBSET_METHODS).join(', ')}).\n` +
    `export const GCP_SUBSET_JSON = ${JSON.stringify(JSON.stringify(makeSubset()))};\n`
  );
}

if (process.argv[1] && path.resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  writeFileSync(SUBSET_FILE, subsetModule());
  console.log(`wrote ${path.relative(process.cwd(), SUBSET_FILE)}`);
}
