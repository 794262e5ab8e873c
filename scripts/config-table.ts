/**
 * Prints the settings table of docs/configuration.md from the one table in packages/server/src/config.ts:
 * `node --conditions=source --import tsx scripts/config-table.ts`. The configuration test checks the
 * doc lists every setting.
 */
import { describeSettings } from '@zerodrop/server';

const shown = (s: { name: string; default: string }) => {
  if (s.name === 'instanceId') return '(host name)';
  return s.default === '' ? '(unset)' : `\`${s.default}\``;
};
const rows = describeSettings().map(
  (s) => `| \`${s.env}\` | ${s.flag.startsWith('--') ? `\`${s.flag}\`` : s.flag} | ${shown(s)} | ${s.help} |`,
);
console.log(rows.join('\n'));
