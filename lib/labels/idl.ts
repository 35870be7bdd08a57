/**
 * The part of the Flyte IDL that FlyteAdmin's client uses: the AdminService attribute calls
 * (plus RegisterProject) and the AuthMetadataService, with every message and enum they reach. It is
 * a protobufjs JSON descriptor generated from the `.proto` files that `@flyteorg/flyteidl` ships
 * (./flyteidl-subset.ts, made by scripts/flyteidl-subset.ts; test/unit/flyteidl-subset.test.ts
 * proves it matches the installed IDL), loaded with `protobufjs/light`: no `.proto` parser and not
 * the package's generated code for the whole IDL (700 KB, most of a function bundle otherwise).
 * The types are the package's generated TypeScript declarations (types only, nothing loaded).
 */
import type { flyteidl } from '@flyteorg/flyteidl/gen/pb-js/flyteidl.js';
import protobuf from 'protobufjs/light.js';
import { FLYTEIDL_SUBSET_JSON } from './flyteidl-subset.ts';

/** gRPC service names (the `.proto` package and service: flyteidl/service/admin.proto, auth.proto). */
export const ADMIN_SERVICE = 'flyteidl.service.AdminService';
export const AUTH_METADATA_SERVICE = 'flyteidl.service.AuthMetadataService';

/** The AdminService calls the descriptor holds (scripts/flyteidl-subset.ts SUBSET_METHODS), typed by the IDL package. */
export type AdminService = Pick<
  flyteidl.service.AdminService,
  | 'listMatchableAttributes'
  | 'registerProject'
  | 'getProjectAttributes'
  | 'updateProjectAttributes'
  | 'deleteProjectAttributes'
  | 'getProjectDomainAttributes'
  | 'updateProjectDomainAttributes'
  | 'deleteProjectDomainAttributes'
  | 'getWorkflowAttributes'
  | 'updateWorkflowAttributes'
  | 'deleteWorkflowAttributes'
>;
export type AuthMetadataService = Pick<flyteidl.service.AuthMetadataService, 'getOAuth2Metadata' | 'getPublicClientConfig'>;

const root = protobuf.Root.fromJSON(JSON.parse(FLYTEIDL_SUBSET_JSON) as protobuf.INamespace).resolveAll();

/** The descriptor's services, each bound to an RPC implementation (as the generated `Service.create`). */
export const services = {
  admin: (rpc: protobuf.RPCImpl) => root.lookupService(ADMIN_SERVICE).create(rpc) as unknown as AdminService,
  auth: (rpc: protobuf.RPCImpl) => root.lookupService(AUTH_METADATA_SERVICE).create(rpc) as unknown as AuthMetadataService,
};

/** MatchableResource.EXECUTION_CLUSTER_LABEL (3). */
export const EXECUTION_CLUSTER_LABEL: flyteidl.admin.MatchableResource = root.lookupEnum('flyteidl.admin.MatchableResource').values['EXECUTION_CLUSTER_LABEL']!;
