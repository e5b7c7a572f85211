/**
 * The ALT image platform name (registry path prefix) of a host: c10f, p10, p11, sisyphus, ...
 * Registry naming since ALT's rename of 2025-05-28 (no `k8s-` prefix).
 */
import { message as t, TranslatableError } from './i18n.ts';
import { readOsRelease } from './os-release.ts';

/** Platform names as they appear in registry paths. */
export const PLATFORM_NAME = /^[a-z][a-z0-9]*$/;

type PlatformSource = 'U7S_PLATFORM' | 'ALT_BRANCH_ID' | 'CPE_NAME';

interface PlatformResult {
  platform: string;
  source: PlatformSource;
}

type Translate = (msgid: string, params?: Record<string, string | number>) => string;

export class UnknownPlatformError extends TranslatableError {}

export function platformFromOsRelease(fields: Record<string, string>): PlatformResult {
  const branch = fields.ALT_BRANCH_ID;
  if (branch) {
    const platform = branch.startsWith('c10f') ? 'c10f' : branch;
    if (!PLATFORM_NAME.test(platform)) throw new UnknownPlatformError(t('ALT_BRANCH_ID {value} is not a platform name', { value: JSON.stringify(branch) }));
    return { platform, source: 'ALT_BRANCH_ID' };
  }
  const cpe = fields.CPE_NAME;
  if (!cpe) throw new UnknownPlatformError(t('os-release sets neither ALT_BRANCH_ID nor CPE_NAME (not an ALT system)'));
  // cpe:/o:alt:<product>:<version>
  const [, , vendor, product, version] = cpe.split(':');
  if (vendor !== 'alt' || !product) throw new UnknownPlatformError(t('CPE_NAME {value} is not an ALT system', { value: JSON.stringify(cpe) }));
  if (product === 'spserver') return { platform: 'c10f', source: 'CPE_NAME' };
  if (product === 'sisyphus') return { platform: 'sisyphus', source: 'CPE_NAME' };
  const major = /^(\d+)/.exec(version ?? '')?.[1];
  if (!major) throw new UnknownPlatformError(t('CPE_NAME {value} has no version', { value: JSON.stringify(cpe) }));
  return { platform: `p${major}`, source: 'CPE_NAME' };
}

export function resolvePlatform(env: NodeJS.ProcessEnv, readFields: () => Record<string, string>): PlatformResult {
  const preset = env.U7S_PLATFORM;
  if (preset) {
    if (!PLATFORM_NAME.test(preset)) throw new UnknownPlatformError(t('U7S_PLATFORM {value} is not a platform name', { value: JSON.stringify(preset) }));
    return { platform: preset, source: 'U7S_PLATFORM' };
  }
  return platformFromOsRelease(readFields());
}

/**
 * This host's platform (U7S_PLATFORM, else os-release(5) under root), or the reason there is none:
 * an os-release that names no known platform, or none at all. Other errors are thrown.
 */
export function hostPlatform(root: string, translate: Translate): { platform: string } | { platform?: undefined; reason: string } {
  try {
    return { platform: resolvePlatform(process.env, () => osReleaseFields(root)).platform };
  } catch (error) {
    if (error instanceof UnknownPlatformError) return { reason: error.in(translate) };
    throw error;
  }
}

/** The fields of the host's os-release; none at all is a host whose platform is unknown. */
export function osReleaseFields(root: string): Record<string, string> {
  try {
    return readOsRelease(root).fields;
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') throw new UnknownPlatformError(t('there is no /etc/os-release or /usr/lib/os-release'));
    throw error;
  }
}
