/**
 * Lazy loading of the heavy cloud clients: a package is imported only when the configuration asks
 * for it, so a function loads (and its bundle carries) only what it can use. The AWS Lambda
 * package leaves the GCP clients out altogether (serverless.yml `exclude`).
 */
import { CredsyncError } from '../errors.ts';

/**
 * Runs `load` (a dynamic `import()` of `pkg`); when the package is not installed or bundled here,
 * fails with a configuration error that says what needs it.
 *
 * @param pkg the package name, e.g. `@google-cloud/secret-manager`
 * @param need what asked for it, e.g. `store.gcp`
 * @throws CredsyncError `CONFIG_INVALID` when `pkg` cannot be found; anything else `load` throws
 */
export async function importOptional<T>(pkg: string, need: string, load: () => Promise<T>): Promise<T> {
  try {
    return await load();
  } catch (err) {
    const code = (err as { code?: unknown })?.code;
    if ((code === 'MODULE_NOT_FOUND' || code === 'ERR_MODULE_NOT_FOUND') && String((err as Error).message).includes(pkg))
      throw new CredsyncError(
        'CONFIG_INVALID',
        `${need} needs ${pkg}, which this package does not include (the AWS Lambda functions carry no GCP clients: ` +
          'run GCP configurations as Google Cloud Functions, dist/gcf/, or with the CLI)',
        { cause: err },
      );
    throw err;
  }
}
