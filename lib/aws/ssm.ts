/**
 * The AWS SDK pieces the SSM configuration source uses (lib/runtime/wiring.ts), imported lazily
 * through this module only: a dynamic `import()` keeps every export of the module it names, so
 * naming the SDK package itself would put its whole client (every command and schema) in a
 * bundle. Here the bundler keeps only these exports and what they reach.
 */
export { GetParameterCommand, SSMClient } from '@aws-sdk/client-ssm';
