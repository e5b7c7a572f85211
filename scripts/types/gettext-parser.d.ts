/** The part of gettext-parser's API the build uses (the package ships no types). */
declare module 'gettext-parser' {
  export interface GetTextTranslation {
    msgctxt?: string;
    msgid: string;
    msgid_plural?: string;
    msgstr: string[];
    comments?: { translator?: string; reference?: string; extracted?: string; flag?: string; previous?: string };
  }
  export interface GetTextTranslations {
    charset: string;
    headers: Record<string, string>;
    translations: Record<string, Record<string, GetTextTranslation>>;
  }
  export const po: {
    parse(input: string | Buffer, options?: { defaultCharset?: string; validation?: boolean }): GetTextTranslations;
    compile(table: GetTextTranslations, options?: { foldLength?: number; sort?: boolean | ((a: GetTextTranslation, b: GetTextTranslation) => number) }): Buffer;
  };
  export const mo: {
    parse(input: Buffer, defaultCharset?: string): GetTextTranslations;
    compile(table: GetTextTranslations): Buffer;
  };
}
