// Writes docs/error-codes.md from the compiled registry: `npm run build && node scripts/error-codes-table.mjs`.
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { errorCodesTable } from '../dist/src/errors/error-codes-table.js';

const root = join(import.meta.dirname, '..');
mkdirSync(join(root, 'docs'), { recursive: true });
writeFileSync(join(root, 'docs', 'error-codes.md'), errorCodesTable());
