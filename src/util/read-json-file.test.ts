import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { z } from 'zod';
import { UnreadableFileError } from '../errors/unreadable-file-error.js';
import { readJsonFile } from './read-json-file.js';

const schema = z.strictObject({ n: z.number() });

test('only a missing file reads as absent; every other problem is an UnreadableFileError', async () => {
  const dir = await mkdtemp(join(tmpdir(), 'nubo-json-'));
  try {
    assert.equal(await readJsonFile(join(dir, 'none.json'), schema, 'thing'), undefined);
    await writeFile(join(dir, 'ok.json'), '{"n":1}');
    assert.deepEqual(await readJsonFile(join(dir, 'ok.json'), schema, 'thing'), { n: 1 });
    const cases: [string, () => Promise<void>, RegExp][] = [
      ['dir.json', () => mkdir(join(dir, 'dir.json')), /EISDIR/],
      ['torn.json', () => writeFile(join(dir, 'torn.json'), '{"n":'), /not JSON/],
      ['empty.json', () => writeFile(join(dir, 'empty.json'), ''), /not JSON/],
      ['shape.json', () => writeFile(join(dir, 'shape.json'), '{"n":"one"}'), /not a valid thing: n:/],
    ];
    for (const [name, make, reason] of cases) {
      await make();
      const path = join(dir, name);
      await assert.rejects(readJsonFile(path, schema, 'thing'), (err: unknown) => {
        assert.ok(err instanceof UnreadableFileError, String(err));
        assert.equal(err.code, 'FILE_UNREADABLE');
        assert.equal(err.path, path);
        assert.match(err.message, reason);
        return true;
      });
    }
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
});
