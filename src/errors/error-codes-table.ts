import { ERROR_CODES } from './error-codes.js';

/** docs/error-codes.md, generated from the registry so that the two cannot drift (a unit test compares them). */
export function errorCodesTable(): string {
  const rows = Object.entries(ERROR_CODES)
    .map(([code, e]) => ({ code, status: e.status, raisedBy: e.raisedBy, echoedBy: 'echoedBy' in e ? e.echoedBy : undefined, meaning: e.meaning }))
    .sort((a, b) => a.status - b.status || a.code.localeCompare(b.code));
  const cell = (s: string): string => s.replace(/\|/g, '\\|');
  return [
    '# Error codes',
    '',
    '<!-- Generated from src/errors/error-codes.ts by `npm run build && node scripts/error-codes-table.mjs`; do not edit by hand. -->',
    '',
    'Every error leaves the native API and the agent API as `{"error": {"code", "message", "details"}}`.',
    'Clients match on `code`, never on the message; `details` carries the typed fields named below.',
    'The CLI prints `error [CODE]: message` and exits 2 for 400/401/403 and usage errors, 1 otherwise.',
    '`wire` marks codes an HTTP layer sends without an error class.',
    '',
    '| code | HTTP | raised by | meaning |',
    '|---|---|---|---|',
    ...rows.map((r) => `| \`${r.code}\` | ${r.status} | ${r.raisedBy === 'wire' ? 'wire' : `\`${r.raisedBy}\``}${r.echoedBy !== undefined ? ` (and \`${r.echoedBy}\`)` : ''} | ${cell(r.meaning)} |`),
    '',
  ].join('\n');
}
