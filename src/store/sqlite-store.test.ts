import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { openStore } from './open-store.js';
import { storeContract } from './store.contract.js';

const dir = mkdtempSync(join(tmpdir(), 'nubo-store-'));

storeContract(
  'sqlite',
  () => openStore({ kind: 'sqlite', path: join(dir, 'nubo.db') }),
  async () => rmSync(dir, { recursive: true, force: true }),
);
