import { createServer, type Server } from 'node:http';
import { createReadStream } from 'node:fs';
import { createHash } from 'node:crypto';
import { readFile, stat } from 'node:fs/promises';
import type { AddressInfo } from 'node:net';
import type { ImageRef } from '../../src/contract/agent-api.js';

/** Serves files to agents as the controller's image store does: bearer token, one URL per image; counts fetches. */
export class TestImageServer {
  readonly hits = new Map<string, number>();
  readonly #files = new Map<string, string>();
  #server: Server | undefined;
  #port = 0;

  constructor(readonly token: string) {}

  async start(): Promise<void> {
    this.#server = createServer((req, res) => {
      const id = /^\/images\/([A-Za-z0-9-]+)$/.exec(req.url ?? '')?.[1];
      const path = id === undefined ? undefined : this.#files.get(id);
      if (req.headers.authorization !== `Bearer ${this.token}`) return void res.writeHead(401).end();
      if (!path || !id) return void res.writeHead(404).end();
      this.hits.set(id, (this.hits.get(id) ?? 0) + 1);
      res.writeHead(200, { 'content-type': 'application/octet-stream' });
      createReadStream(path).pipe(res);
    });
    await new Promise<void>((resolve) => this.#server!.listen(0, '127.0.0.1', resolve));
    this.#port = (this.#server.address() as AddressInfo).port;
  }

  async add(id: string, path: string, format: ImageRef['format']): Promise<ImageRef> {
    this.#files.set(id, path);
    const sha256 = createHash('sha256').update(await readFile(path)).digest('hex');
    return { id, url: `http://127.0.0.1:${this.#port}/images/${id}`, sha256, sizeBytes: (await stat(path)).size, format };
  }

  async stop(): Promise<void> {
    await new Promise<void>((resolve) => (this.#server ? this.#server.close(() => resolve()) : resolve()));
  }
}
