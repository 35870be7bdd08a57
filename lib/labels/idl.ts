/**
 * The Flyte IDL as published by the Flyte project on npm (`@flyteorg/flyteidl`): its generated
 * protobufjs code holds every message with its encoder and decoder, and the AdminService and
 * AuthMetadataService with each method's name and request and response types. The client calls
 * FlyteAdmin through these definitions (never hand-written request shapes).
 *
 * The package's generated file is CommonJS and needs `protobufjs/minimal` (a dependency of ours,
 * since the package does not declare it).
 */
import idl from '@flyteorg/flyteidl/gen/pb-js/flyteidl.js';

export const { flyteidl } = idl;
export type { flyteidl as FlyteIdl } from '@flyteorg/flyteidl/gen/pb-js/flyteidl.js';

/** gRPC service names (the `.proto` package and service: flyteidl/service/admin.proto, auth.proto). */
export const ADMIN_SERVICE = 'flyteidl.service.AdminService';
export const AUTH_METADATA_SERVICE = 'flyteidl.service.AuthMetadataService';

/** MatchableResource.EXECUTION_CLUSTER_LABEL (3). */
export const EXECUTION_CLUSTER_LABEL = flyteidl.admin.MatchableResource.EXECUTION_CLUSTER_LABEL;
