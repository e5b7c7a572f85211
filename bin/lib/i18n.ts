/**
 * The one translation function every message goes through. Msgids are English with `{name}`
 * placeholders; the locale is chosen as gettext does (LC_ALL, then LC_MESSAGES, then LANG; C/POSIX
 * or unset means English). Catalogs are added per text domain by the translations issue; until a
 * catalog for the locale is registered, the English msgid is used.
 */

export type Params = Record<string, string | number>;
export type Catalog = Record<string, string>;

const catalogs = new Map<string, Map<string, Catalog>>(); // domain -> language -> catalog

export function registerCatalog(domain: string, language: string, catalog: Catalog): void {
  const byLanguage = catalogs.get(domain) ?? new Map<string, Catalog>();
  byLanguage.set(language, catalog);
  catalogs.set(domain, byLanguage);
}

/** The language part of the effective message locale (`ru` for ru_RU.UTF-8), or undefined for C/POSIX. */
export function messageLanguage(env: NodeJS.ProcessEnv = process.env): string | undefined {
  const locale = env.LC_ALL || env.LC_MESSAGES || env.LANG || '';
  if (locale === '' || locale === 'C' || locale === 'POSIX' || locale.startsWith('C.')) return undefined;
  return /^[a-z]{2,3}/.exec(locale)?.[0];
}

function interpolate(text: string, params: Params): string {
  return text.replace(/\{(\w+)\}/g, (whole, name: string) => (name in params ? String(params[name]) : whole));
}

export function translator(domain: string, env: NodeJS.ProcessEnv = process.env) {
  return (msgid: string, params: Params = {}): string => {
    const language = messageLanguage(env);
    const translated = language ? catalogs.get(domain)?.get(language)?.[msgid] : undefined;
    return interpolate(translated ?? msgid, params);
  };
}
