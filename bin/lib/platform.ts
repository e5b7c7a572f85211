/**
 * The ALT image platform name (registry path prefix) of a host: c10f, p10, p11, sisyphus, ...
 * Registry naming since ALT's rename of 2025-05-28 (no `k8s-` prefix).
 */
import { readOsRelease } from './os-release.ts';

/** Platform names as they appear in registry paths. */
export const PLATFORM_NAME = /^[a-z][a-z0-9]*$/;

type PlatformSource = 'U7S_PLATFORM' | 'ALT_BRANCH_ID' | 'CPE_NAME';

interface PlatformResult {
  platform: string;
  source: PlatformSource;
}

export class UnknownPlatformError extends Error {}

export function platformFromOsRelease(fields: Record<string, string>): PlatformResult {
  const branch = fields.ALT_BRANCH_ID;
  if (branch) {
    const platform = branch.startsWith('c10f') ? 'c10f' : branch;
    if (!PLATFORM_NAME.test(platform)) throw new UnknownPlatformError(`ALT_BRANCH_ID ${JSON.stringify(branch)} is not a platform name`);
    return { platform, source: 'ALT_BRANCH_ID' };
  }
  const cpe = fields.CPE_NAME;
  if (!cpe) throw new UnknownPlatformError('neither ALT_BRANCH_ID nor CPE_NAME is set');
  // cpe:/o:alt:<product>:<version>
  const [, , vendor, product, version] = cpe.split(':');
  if (vendor !== 'alt' || !product) throw new UnknownPlatformError(`CPE_NAME ${JSON.stringify(cpe)} is not an ALT system`);
  if (product === 'spserver') return { platform: 'c10f', source: 'CPE_NAME' };
  if (product === 'sisyphus') return { platform: 'sisyphus', source: 'CPE_NAME' };
  const major = /^(\d+)/.exec(version ?? '')?.[1];
  if (!major) throw new UnknownPlatformError(`CPE_NAME ${JSON.stringify(cpe)} has no version`);
  return { platform: `p${major}`, source: 'CPE_NAME' };
}

export function resolvePlatform(env: NodeJS.ProcessEnv, readFields: () => Record<string, string>): PlatformResult {
  const preset = env.U7S_PLATFORM;
  if (preset) {
    if (!PLATFORM_NAME.test(preset)) throw new UnknownPlatformError(`U7S_PLATFORM ${JSON.stringify(preset)} is not a platform name`);
    return { platform: preset, source: 'U7S_PLATFORM' };
  }
  return platformFromOsRelease(readFields());
}

/**
 * This host's platform (U7S_PLATFORM, else os-release(5) under root), or the reason there is none:
 * an os-release that names no known platform, or none at all. Other errors are thrown.
 */
export function hostPlatform(root: string): { platform: string } | { platform?: undefined; reason: string } {
  try {
    return { platform: resolvePlatform(process.env, () => readOsRelease(root).fields).platform };
  } catch (error) {
    if (error instanceof UnknownPlatformError || (error as NodeJS.ErrnoException).code === 'ENOENT') return { reason: (error as Error).message };
    throw error;
  }
}
