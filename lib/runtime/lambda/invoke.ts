/**
 * What the Lambda handlers use of the invocation path, named one by one: a dynamic `import()`
 * keeps every export of the module it names, and ../invocation.ts also exports what only the CLI
 * and Cloud Functions use (credsync doctor, with more of the Kubernetes client), which the Lambda
 * bundles leave out this way.
 */
export { finish, prepare, syncCreatedCluster, syncInvocation } from '../invocation.ts';
