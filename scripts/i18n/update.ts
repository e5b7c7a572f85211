/** npm run i18n: brings bin/po/<language>/<domain>.po up to date with the code. */
import model from '../model/index.ts';
import { LANGUAGES, updatePo } from './catalog.ts';
import { messagesByDomain } from './messages.ts';

const { domains } = await messagesByDomain(model);
for (const [domain, messages] of [...domains].sort(([a], [b]) => a.localeCompare(b))) {
  for (const language of LANGUAGES) {
    const { added, dropped } = await updatePo(domain, language, messages);
    process.stdout.write(`${language}/${domain}.po: ${messages.size} messages, ${added} new, ${dropped} dropped\n`);
  }
}
