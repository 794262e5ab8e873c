/**
 * The service binaries the lab runs (`redis-server`, `redis-cli`, `nginx`, `chromium`), found where
 * Debian installs them. A missing one is an error that names the Debian package to install, never a
 * silent skip: a lab or a test without its Redis proves nothing.
 */
import { accessSync, constants } from 'node:fs';
import { join } from 'node:path';

const SEARCH_DIRS = ['/usr/bin', '/usr/sbin', '/usr/local/bin', '/usr/local/sbin'];

/** The absolute path of `name`, or undefined when it is in none of the system directories. */
export function findBinary(name: string): string | undefined {
  for (const dir of SEARCH_DIRS) {
    const path = join(dir, name);
    try {
      accessSync(path, constants.X_OK);
      return path;
    } catch {
      // not in this directory
    }
  }
  return undefined;
}

export function requireBinary(name: string, debianPackage: string): string {
  const path = findBinary(name);
  if (path) return path;
  throw new Error(
    `${name} is not installed: run "apt-get install -y ${debianPackage}" (CI's .ci/run does this)`,
  );
}
