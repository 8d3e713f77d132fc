import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { shmemHugePagesWarning } from './shmem-huge-pages.js';

describe('shmemHugePagesWarning', () => {
  it('warns under never and deny, naming the file and the fix; not under a policy that gives guest RAM huge pages, nor without the file', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'nubo-thp-'));
    try {
      const file = join(dir, 'shmem_enabled');
      for (const current of ['never', 'deny']) {
        await writeFile(file, `always within_size advise ${current === 'never' ? '[never] deny' : 'never [deny]'} force\n`);
        const w = await shmemHugePagesWarning(file);
        assert.ok(w !== undefined, current);
        assert.ok(w.includes(`${file} is [${current}]`), w);
        assert.match(w, /echo advise > /);
      }
      for (const current of ['always', 'within_size', 'advise', 'force']) {
        await writeFile(file, `always within_size advise never deny force\n`.replace(current === 'always' ? 'always' : ` ${current} `, current === 'always' ? '[always]' : ` [${current}] `));
        assert.equal(await shmemHugePagesWarning(file), undefined, current);
      }
      assert.equal(await shmemHugePagesWarning(join(dir, 'absent')), undefined);
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });
});
