import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createHash, randomBytes } from 'node:crypto';
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { closeSync, openSync, statSync, writeSync } from 'node:fs';
import { mkdtemp, readdir, readFile, rename, rm, stat, truncate, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { copyLocalFile } from './copy-local-file.js';
import { bootId, localSourceOf } from './local-source.js';

const MB = 1_000_000;

async function withFile(size: number, body: (dir: string, src: string, bytes: Buffer) => Promise<void>): Promise<void> {
  const dir = await mkdtemp(join(tmpdir(), 'nubo-local-copy-'));
  try {
    const bytes = randomBytes(size);
    await writeFile(join(dir, 'src'), bytes);
    await body(dir, join(dir, 'src'), bytes);
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}

const sha = (b: Buffer): string => createHash('sha256').update(b).digest('hex');

test('copies the offered file with the kernel, both digests matching, uncapped and capped', async () => {
  await withFile(5 * MB + 7, async (dir, src, bytes) => {
    const source = (await localSourceOf(src, await bootId()))!;
    let told = 0;
    const r = await copyLocalFile({ source, dest: join(dir, 'a'), sizeBytes: bytes.length, onBytes: (n) => (told += n) });
    assert.equal(r?.sha256, sha(bytes));
    assert.equal(r?.via, 'local');
    assert.equal(told, bytes.length);
    assert.equal(sha(await readFile(join(dir, 'a'))), sha(bytes));
    const capped = await copyLocalFile({ source, dest: join(dir, 'b'), sizeBytes: bytes.length, maxBytesPerSecond: 1000 * MB });
    assert.equal(capped?.sha256, sha(bytes));
    assert.equal(sha(await readFile(join(dir, 'b'))), sha(bytes));
  });
});

test('a cap whose one burst holds the whole file copies it with the kernel in one call; a lower one paces it in slices', async () => {
  await withFile(5 * MB, async (dir, src, bytes) => {
    const source = (await localSourceOf(src, await bootId()))!;
    // 50 ms at 200 MB/s is 10 MB: the file fits, the pacer would never wait, so the kernel's copy is taken (hashed beside it).
    const whole = await copyLocalFile({ source, dest: join(dir, 'a'), sizeBytes: bytes.length, maxBytesPerSecond: 200 * MB });
    assert.equal(whole?.meanReadBytes, bytes.length);
    assert.equal(typeof whole?.hashMs, 'number');
    assert.equal(whole?.sha256, sha(bytes));
    // At 50 MB/s the burst is 2.5 MB: paced, slice by slice.
    const paced = await copyLocalFile({ source, dest: join(dir, 'b'), sizeBytes: bytes.length, maxBytesPerSecond: 50 * MB });
    assert.ok((paced?.meanReadBytes ?? Infinity) < bytes.length);
    assert.equal(paced?.hashMs, undefined);
    assert.equal(paced?.sha256, sha(bytes));
    assert.equal(sha(await readFile(join(dir, 'b'))), sha(bytes));
  });
});

test('not the offered file here (another inode, another size, no such path): undefined, nothing written', async () => {
  await withFile(100_000, async (dir, src, bytes) => {
    const source = (await localSourceOf(src, await bootId()))!;
    const dest = join(dir, 'copy');
    assert.equal(await copyLocalFile({ source, dest, sizeBytes: bytes.length + 1 }), undefined);
    assert.equal(await copyLocalFile({ source: { ...source, ino: String(BigInt(source.ino) + 1n) }, dest, sizeBytes: bytes.length }), undefined);
    assert.equal(await copyLocalFile({ source: { ...source, path: join(dir, 'nope') }, dest, sizeBytes: bytes.length }), undefined);
    await assert.rejects(stat(dest), { code: 'ENOENT' });
  });
});

test('a cap holds from the first second: bytes copied ≤ cap × elapsed + one slice', async () => {
  const rate = 2 * MB;
  await withFile(32 * MB, async (dir, src, bytes) => {
    const source = (await localSourceOf(src, await bootId()))!;
    let copied = 0;
    let moved!: () => void;
    const moving = new Promise<void>((resolve) => (moved = resolve));
    const ac = new AbortController();
    const t0 = Date.now();
    const copy = copyLocalFile({ source, dest: join(dir, 'copy'), sizeBytes: bytes.length, maxBytesPerSecond: rate, onBytes: (n) => ((copied += n), moved()), signal: ac.signal });
    // A second from the first bytes (the copier's start — a python3 child's — takes a while on a busy machine); the cap is counted from the call.
    await Promise.race([moving, new Promise((resolve) => setTimeout(resolve, 20_000))]);
    await new Promise((resolve) => setTimeout(resolve, 1_000));
    const elapsed = (Date.now() - t0) / 1000;
    const seen = copied;
    ac.abort(new Error('enough'));
    await assert.rejects(copy, /enough/);
    // One slice is the pacer's burst (50 ms at the rate), plus that same slack again.
    const allowed = rate * elapsed + 2 * rate * 0.05;
    assert.ok(seen <= allowed, `${(seen / MB).toFixed(2)} MB copied after ${elapsed.toFixed(2)} s at a cap of ${rate / MB} MB/s (allowed ${(allowed / MB).toFixed(2)} MB)`);
    assert.ok(seen >= rate * 0.3, `the copy barely moved: ${seen} bytes`);
  });
});

test('a source cut short or replaced during the copy is detected, not installed', async () => {
  await withFile(4 * MB, async (dir, src, bytes) => {
    const source = (await localSourceOf(src, await bootId()))!;
    let cut = false;
    await assert.rejects(
      copyLocalFile({
        source, dest: join(dir, 'short'), sizeBytes: bytes.length, maxBytesPerSecond: 8 * MB,
        onBytes: () => void (cut ||= (void truncate(src, MB).catch(() => {}), true)),
      }),
      { code: 'TRANSFER_FAILED', message: /ended after|bytes|sha256/ },
    );
  });
  await withFile(4 * MB, async (dir, src, bytes) => {
    const source = (await localSourceOf(src, await bootId()))!;
    await writeFile(join(dir, 'other'), randomBytes(bytes.length));
    let swapped = false;
    await assert.rejects(
      copyLocalFile({
        source, dest: join(dir, 'swapped'), sizeBytes: bytes.length, maxBytesPerSecond: 8 * MB,
        onBytes: () => void (swapped ||= (void rename(join(dir, 'other'), src).catch(() => {}), true)),
      }),
      { code: 'TRANSFER_FAILED', message: /no longer names the offered file|sha256/ },
    );
  });
});

test('the digest is of the source as it is now: a source corrupted at rest is copied with its own digest, which the caller then refuses', async () => {
  await withFile(3 * MB, async (dir, src, bytes) => {
    const offered = sha(bytes);
    // Bit rot in place: the same inode and size, other bytes (a system store's file gone bad since its manifest was written).
    const rotten = Buffer.from(bytes);
    rotten[1234] = (rotten[1234]! + 1) % 256;
    const fd = openSync(src, 'r+');
    writeSync(fd, rotten, 0, rotten.length, 0);
    closeSync(fd);
    const source = (await localSourceOf(src, await bootId()))!;
    for (const cap of [undefined, 1000 * MB]) {
      const dest = join(dir, `copy-${cap ?? 'whole'}`);
      const r = await copyLocalFile({ source, dest, sizeBytes: bytes.length, maxBytesPerSecond: cap });
      assert.equal(r?.sha256, sha(rotten), 'the digest is of the bytes copied');
      assert.notEqual(r?.sha256, offered, 'so it differs from the one recorded for the file');
      assert.equal(sha(await readFile(dest)), sha(rotten));
    }
  });
});

test('a source written to in place during the kernel copy is refused, though the copy and its digest agree in size', async () => {
  await withFile(4 * MB, async (dir, src, bytes) => {
    const source = (await localSourceOf(src, await bootId()))!;
    // Told once the kernel copied the file and its digest is computed: a write now is one the copy may or may not hold.
    const onBytes = (): void => {
      const fd = openSync(src, 'r+');
      writeSync(fd, Buffer.from('changed'), 0, 7, 100);
      closeSync(fd);
    };
    await assert.rejects(
      copyLocalFile({ source, dest: join(dir, 'copy'), sizeBytes: bytes.length, onBytes }),
      { code: 'TRANSFER_FAILED', message: /written to during the copy/ },
    );
  });
});

/** The python3 children of process `pid` (a paced kernel copy's), from /proc. */
async function pythonChildren(pid = process.pid): Promise<number[]> {
  const tasks = await readdir(`/proc/${pid}/task`).catch(() => []);
  const listed = await Promise.all(tasks.map((t) => readFile(`/proc/${pid}/task/${t}/children`, 'utf8').catch(() => '')));
  const kids = listed.flatMap((s) => s.split(/\s+/).filter(Boolean).map(Number));
  const names = await Promise.all(kids.map(async (k) => ({ k, comm: (await readFile(`/proc/${k}/comm`, 'utf8').catch(() => '')).trim() })));
  return names.filter((x) => x.comm.startsWith('python')).map((x) => x.k);
}

/** Gone, or a zombie nobody reaped yet: either way it copies nothing more. */
async function isGone(pid: number): Promise<boolean> {
  const stat = await readFile(`/proc/${pid}/stat`, 'utf8').catch(() => undefined);
  return stat === undefined || / Z /.test(stat.slice(stat.lastIndexOf(')')));
}

test('a capped copy goes as paced kernel copies in a python3 child: the cap holds (N bytes at R take ≥ N/R less a burst), the bytes and digest are the source\'s', async () => {
  const rate = 20 * MB;
  await withFile(12 * MB + 5, async (dir, src, bytes) => {
    const source = (await localSourceOf(src, await bootId()))!;
    const seen = new Set<number>();
    let told = 0;
    const t0 = performance.now();
    const r = await copyLocalFile({
      source, dest: join(dir, 'copy'), sizeBytes: bytes.length, maxBytesPerSecond: rate,
      onBytes: (n) => {
        told += n;
        void pythonChildren().then((ps) => ps.forEach((p) => seen.add(p)));
      },
    });
    const elapsed = (performance.now() - t0) / 1000;
    assert.ok(elapsed >= bytes.length / rate - 0.05, `${bytes.length} bytes at ${rate / MB} MB/s took ${elapsed.toFixed(2)} s`);
    assert.ok(seen.size > 0, 'a python3 child copied');
    assert.equal(told, bytes.length);
    assert.equal(r?.sha256, sha(bytes));
    assert.equal(sha(await readFile(join(dir, 'copy'))), sha(bytes));
    for (const p of seen) assert.ok(await isGone(p), `child ${p} is gone`);
  });
});

test('an aborted paced copy kills its child: none is left, the copy stops growing', async () => {
  await withFile(16 * MB, async (dir, src, bytes) => {
    const source = (await localSourceOf(src, await bootId()))!;
    const ac = new AbortController();
    let moved!: () => void;
    const moving = new Promise<void>((resolve) => (moved = resolve));
    const copy = copyLocalFile({ source, dest: join(dir, 'copy'), sizeBytes: bytes.length, maxBytesPerSecond: 4 * MB, signal: ac.signal, onBytes: () => moved() });
    copy.catch(() => {});
    let kids: number[];
    try {
      await Promise.race([moving, new Promise((resolve) => setTimeout(resolve, 20_000))]);
      kids = await pythonChildren();
      assert.equal(kids.length, 1, 'one python3 child copies');
    } finally {
      ac.abort(new Error('stopped'));
    }
    await assert.rejects(copy, /stopped/);
    assert.deepEqual(await pythonChildren(), []);
    assert.ok(await isGone(kids[0]!));
    const size = (await stat(join(dir, 'copy'))).size;
    assert.ok(size < bytes.length, `${size} of ${bytes.length} bytes copied before the abort`);
    await new Promise((resolve) => setTimeout(resolve, 300));
    assert.equal((await stat(join(dir, 'copy'))).size, size, 'nothing writes the copy after the abort');
  });
});

test('no python3 to be started: the capped copy goes through this process instead, the same bytes and digest', async () => {
  await withFile(6 * MB + 1, async (dir, src, bytes) => {
    const source = (await localSourceOf(src, await bootId()))!;
    let kids = 0;
    const r = await copyLocalFile({
      source, dest: join(dir, 'copy'), sizeBytes: bytes.length, maxBytesPerSecond: 40 * MB, python: join(dir, 'no-python3'),
      onBytes: () => void pythonChildren().then((ps) => (kids += ps.length)),
    });
    assert.equal(r?.sha256, sha(bytes));
    assert.equal(sha(await readFile(join(dir, 'copy'))), sha(bytes));
    assert.equal(kids, 0);
  });
});

test('a source written to in place during a paced kernel copy is refused', async () => {
  await withFile(4 * MB, async (dir, src, bytes) => {
    const source = (await localSourceOf(src, await bootId()))!;
    let written = false;
    const onBytes = (): void => {
      if (written) return;
      written = true;
      const fd = openSync(src, 'r+');
      writeSync(fd, Buffer.from('changed'), 0, 7, 3 * MB);
      closeSync(fd);
    };
    await assert.rejects(
      copyLocalFile({ source, dest: join(dir, 'copy'), sizeBytes: bytes.length, maxBytesPerSecond: 8 * MB, onBytes }),
      { code: 'TRANSFER_FAILED', message: /written to during the copy/ },
    );
    assert.ok(written);
  });
});

test('the agent SIGKILLed mid-copy: its python3 child ends with it, copying nothing more', async () => {
  await withFile(16 * MB, async (dir, src, bytes) => {
    const source = (await localSourceOf(src, await bootId()))!;
    const module = new URL('./copy-local-file.js', import.meta.url).href;
    const script = [
      `const { copyLocalFile } = await import(${JSON.stringify(module)});`,
      `let said = false;`,
      `await copyLocalFile({ source: ${JSON.stringify(source)}, dest: ${JSON.stringify(join(dir, 'copy'))}, sizeBytes: ${bytes.length}, maxBytesPerSecond: ${2 * MB},`,
      `  onBytes: () => { if (!said) { said = true; process.stdout.write('copying\\n'); } } });`,
    ].join('\n');
    const agent = spawn(process.execPath, ['--input-type=module', '-e', script], { stdio: ['ignore', 'pipe', 'inherit'] });
    try {
      const [chunk] = (await once(agent.stdout, 'data')) as [Buffer];
      assert.match(chunk.toString(), /copying/);
      const kids = await pythonChildren(agent.pid);
      assert.equal(kids.length, 1, 'the agent runs one python3 child');
      agent.kill('SIGKILL');
      await once(agent, 'exit');
      const t0 = Date.now();
      while (!(await isGone(kids[0]!)) && Date.now() - t0 < 5_000) await new Promise((resolve) => setTimeout(resolve, 20));
      assert.ok(await isGone(kids[0]!), `the child ${kids[0]} outlived its agent`);
      const size = (await stat(join(dir, 'copy'))).size;
      await new Promise((resolve) => setTimeout(resolve, 300));
      assert.equal((await stat(join(dir, 'copy'))).size, size, 'nothing writes the copy after the agent died');
    } finally {
      if (agent.exitCode === null && agent.signalCode === null) agent.kill('SIGKILL');
    }
  });
});

test('onWritten: told once every byte is in the copy, before the digest is known — whole, paced by a python3 child, paced here; not for a copy that ends short', async () => {
  await withFile(3 * MB + 5, async (dir, src, bytes) => {
    const source = (await localSourceOf(src, await bootId()))!;
    const ways = [
      { name: 'whole', maxBytesPerSecond: undefined, python: undefined },
      { name: 'kernel', maxBytesPerSecond: 30 * MB, python: undefined },
      { name: 'here', maxBytesPerSecond: 30 * MB, python: join(dir, 'no-python3') },
    ];
    for (const w of ways) {
      const dest = join(dir, w.name);
      let resolved = false;
      const seen: number[] = [];
      const copying = copyLocalFile({
        source, dest, sizeBytes: bytes.length, maxBytesPerSecond: w.maxBytesPerSecond, python: w.python,
        onWritten: () => {
          assert.equal(resolved, false, `${w.name}: told before the copy resolved`);
          seen.push((statSync(dest)).size);
        },
      }).then((r) => {
        resolved = true;
        return r;
      });
      assert.equal((await copying)?.sha256, sha(bytes), w.name);
      assert.deepEqual(seen, [bytes.length], `${w.name}: told once, with every byte in the copy`);
    }
    let told = 0;
    let cut = false;
    await assert.rejects(copyLocalFile({
      source, dest: join(dir, 'short'), sizeBytes: bytes.length, maxBytesPerSecond: 8 * MB,
      onBytes: () => void (cut ||= (void truncate(src, MB).catch(() => {}), true)),
      onWritten: () => void told++,
    }), { code: 'TRANSFER_FAILED' });
    assert.equal(told, 0, 'a copy cut short is never told whole');
  });
});
