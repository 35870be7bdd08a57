/**
 * The part of a protobufjs descriptor that some services' methods reach, as JSON: the services
 * with only those methods, their request and response messages and, recursively, every message and
 * enum their (kept) fields use. Namespaces, and messages that only nest kept types, stay as plain
 * namespaces. Shared by scripts/flyteidl-subset.ts and scripts/gcp-subset.ts.
 */
import protobuf from 'protobufjs';

export type Json = Record<string, unknown>;

export interface SubsetOptions {
  /** A type's or enum's own JSON as it is written out (its nested types are emitted separately). */
  strip: (json: object) => Json;
  /** Messages cut down to these fields (by full name, no leading dot); their oneofs follow. */
  keepFields?: Record<string, readonly string[]>;
  /** Where the descriptor comes from, for the error about a missing method. */
  source: string;
}

/**
 * @param services service full name (no leading dot) -> the methods to keep
 * @throws Error when a listed method is not in the descriptor
 */
export function descriptorSubset(root: protobuf.Root, services: Record<string, readonly string[]>, opts: SubsetOptions): Json {
  const only = (t: protobuf.ReflectionObject) => opts.keepFields?.[t.fullName.slice(1)];
  const keep = new Set<protobuf.ReflectionObject>();
  const visit = (t: protobuf.Type | protobuf.Enum) => {
    if (keep.has(t)) return;
    keep.add(t);
    if (!(t instanceof protobuf.Type)) return;
    const fields = only(t);
    for (const f of t.fieldsArray) if (f.resolvedType && (!fields || fields.includes(f.name))) visit(f.resolvedType);
  };
  for (const [name, methods] of Object.entries(services)) {
    const svc = root.lookupService(name);
    keep.add(svc);
    for (const m of methods) {
      const method = svc.methods[m];
      if (!method) throw new Error(`${name} has no method ${m} in ${opts.source}`);
      method.resolve();
      visit(method.resolvedRequestType!);
      visit(method.resolvedResponseType!);
    }
  }
  const emit = (ns: protobuf.NamespaceBase): Json | undefined => {
    const nested: Json = {};
    for (const child of ns.nestedArray) {
      let json: Json | undefined;
      if (child instanceof protobuf.Service) {
        if (!keep.has(child)) continue;
        const methods: Json = {};
        for (const m of services[child.fullName.slice(1)]!) {
          const { options: _http, parsedOptions: _p, comment: _c, ...rest } = child.methods[m]!.toJSON() as unknown as Json;
          methods[m] = rest;
        }
        json = { methods };
      } else if (child instanceof protobuf.Enum) {
        if (keep.has(child)) json = opts.strip(child.toJSON());
      } else if (child instanceof protobuf.Type) {
        const inner = emit(child);
        if (keep.has(child)) json = { ...cutDown(opts.strip(child.toJSON()), only(child)), ...(inner ? { nested: inner } : {}) };
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

/** A message's JSON with only `fields` (all when undefined); a oneof whose fields all went goes too. */
function cutDown(own: Json, fields: readonly string[] | undefined): Json {
  if (!fields) return own;
  own['fields'] = Object.fromEntries(Object.entries(own['fields'] as Json).filter(([n]) => fields.includes(n)));
  if (own['oneofs']) {
    const kept = own['fields'] as Json;
    const oneofs = Object.fromEntries(
      Object.entries(own['oneofs'] as Record<string, { oneof: string[] }>)
        .map(([n, o]) => [n, { oneof: o.oneof.filter((f) => f in kept) }] as const)
        .filter(([, o]) => o.oneof.length),
    );
    if (Object.keys(oneofs).length) own['oneofs'] = oneofs;
    else delete own['oneofs'];
  }
  return own;
}
