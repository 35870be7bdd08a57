/**
 * Writes lib/labels/flyteidl-subset.ts: the part of the Flyte IDL that FlyteAdmin's client
 * (lib/labels/admin.ts) uses, as a protobufjs JSON descriptor (a string, for JSON.parse), taken from the `.proto` files the
 * installed `@flyteorg/flyteidl` ships. The client loads it with `protobufjs/light`, instead of
 * the package's generated code for the whole IDL (700 KB minified, most of a function bundle).
 *
 *   node scripts/flyteidl-subset.ts          # after upgrading @flyteorg/flyteidl
 *
 * test/unit/flyteidl-subset.test.ts fails when the checked-in file differs from what this makes
 * from the installed IDL, and checks that its fields and encodings are the full IDL's.
 */
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import protobuf from 'protobufjs';

const here = path.dirname(fileURLToPath(import.meta.url));
export const PROTO_ROOT = path.resolve(here, '..', 'node_modules', '@flyteorg', 'flyteidl', 'protos');
export const SUBSET_FILE = path.resolve(here, '..', 'lib', 'labels', 'flyteidl-subset.ts');

/** The services and methods the subset keeps: labels' calls, their project-level kin, and auth discovery. */
export const SUBSET_METHODS: Record<string, string[]> = {
  'flyteidl.service.AdminService': [
    'ListMatchableAttributes',
    'RegisterProject',
    ...['Get', 'Update', 'Delete'].flatMap((verb) => ['ProjectAttributes', 'ProjectDomainAttributes', 'WorkflowAttributes'].map((what) => verb + what)),
  ],
  'flyteidl.service.AuthMetadataService': ['GetOAuth2Metadata', 'GetPublicClientConfig'],
};

/** Imports that only carry HTTP/OpenAPI annotations (not shipped by the package, no wire effect). */
const ANNOTATION_ONLY = new Set(['google/api/annotations.proto', 'protoc-gen-openapiv2/options/annotations.proto']);

/** The full IDL of the services above, parsed from the package's `.proto` files. */
export function loadFullIdl(): protobuf.Root {
  const root = new protobuf.Root();
  root.resolvePath = (origin, target) => {
    if (ANNOTATION_ONLY.has(target)) return null as unknown as string; // protobufjs skips a null import
    if (target.startsWith('google/protobuf/')) return target; // protobufjs ships these
    const inRoot = path.join(PROTO_ROOT, target);
    return existsSync(inRoot) ? inRoot : protobuf.util.path.resolve(origin, target);
  };
  root.loadSync(['flyteidl/service/admin.proto', 'flyteidl/service/auth.proto'].map((f) => path.join(PROTO_ROOT, f)));
  root.resolveAll();
  return root;
}

type Json = Record<string, unknown>;

/**
 * The descriptor of only what {@link SUBSET_METHODS} reach: their request and response messages
 * and, recursively, every message and enum their fields use (comments and HTTP annotations left out).
 *
 * @throws Error when a listed service or method is not in the IDL
 */
export function makeSubset(root: protobuf.Root = loadFullIdl()): Json {
  const keep = new Set<protobuf.ReflectionObject>();
  const visit = (t: protobuf.Type | protobuf.Enum) => {
    if (keep.has(t)) return;
    keep.add(t);
    if (t instanceof protobuf.Type) for (const f of t.fieldsArray) if (f.resolvedType) visit(f.resolvedType);
  };
  for (const [name, methods] of Object.entries(SUBSET_METHODS)) {
    const svc = root.lookupService(name);
    keep.add(svc);
    for (const m of methods) {
      const method = svc.methods[m];
      if (!method) throw new Error(`${name} has no method ${m} in @flyteorg/flyteidl`);
      method.resolve();
      visit(method.resolvedRequestType!);
      visit(method.resolvedResponseType!);
    }
  }
  // Namespaces, and messages only nesting kept types, stay as plain namespaces.
  const emit = (ns: protobuf.NamespaceBase): Json | undefined => {
    const nested: Json = {};
    for (const child of ns.nestedArray) {
      let json: Json | undefined;
      if (child instanceof protobuf.Service) {
        if (!keep.has(child)) continue;
        const methods: Json = {};
        for (const m of SUBSET_METHODS[child.fullName.slice(1)]!) {
          const { options: _http, parsedOptions: _p, comment: _c, ...rest } = child.methods[m]!.toJSON() as unknown as Json;
          methods[m] = rest;
        }
        json = { methods };
      } else if (child instanceof protobuf.Enum) {
        if (keep.has(child)) json = strip(child.toJSON());
      } else if (child instanceof protobuf.Type) {
        const inner = emit(child);
        if (keep.has(child)) json = { ...strip(child.toJSON()), ...(inner ? { nested: inner } : {}) };
        else if (inner) json = { nested: inner };
      } else if (child instanceof protobuf.Namespace) {
        const inner = emit(child);
        if (inner) json = { nested: inner };
      }
      if (json) nested[child.name] = json;
    }
    return Object.keys(nested).length ? nested : undefined;
  };
  return { nested: emit(root) };
}

/** A type's or enum's own JSON without comments or nested types (emitted separately). */
function strip(json: object): Json {
  const { nested: _n, comment: _c, comments: _cs, ...rest } = json as Json;
  return rest;
}

/** The text of lib/labels/flyteidl-subset.ts for the installed IDL. */
export function subsetModule(): string {
  const version = (JSON.parse(readFileSync(path.join(PROTO_ROOT, '..', 'package.json'), 'utf8')) as { version: string }).version;
  return (
    `// Generated by scripts/flyteidl-subset.ts from the .proto files of @flyteorg/flyteidl ${version}: do not edit.\n` +
    `// The protobufjs JSON descriptor of what FlyteAdmin's client uses (services ${Object.keys(SUBSET_METHODS).join(', ')}).\n` +
    `export const FLYTEIDL_VERSION = ${JSON.stringify(version)};\n` +
    `export const FLYTEIDL_SUBSET_JSON = ${JSON.stringify(JSON.stringify(makeSubset()))};\n`
  );
}

if (process.argv[1] && path.resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  writeFileSync(SUBSET_FILE, subsetModule());
  console.log(`wrote ${path.relative(process.cwd(), SUBSET_FILE)}`);
}
