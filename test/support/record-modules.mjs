// node --import tsx --import ./record-modules.mjs PROGRAM: appends the URL of every module the
// program loads to the file $PODSEC_RECORD_MODULES (one a line), for tests of what a command imports.
import { register } from 'node:module';

register(
  `data:text/javascript,${encodeURIComponent(`
import { appendFileSync } from 'node:fs';
const file = process.env.PODSEC_RECORD_MODULES;
export async function load(url, context, next) {
  if (file) appendFileSync(file, url + '\\n');
  return next(url, context);
}`)}`,
);
