/** Joins a plural message's singular and plural msgid in a key, as the .mo file does. */
export const PLURAL_SEPARATOR = '\0';
