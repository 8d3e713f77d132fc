import { createHash, createHmac, type Hash, type Hmac } from 'node:crypto';
import { SignatureV4 } from '@smithy/signature-v4';
import { XMLParser } from 'fast-xml-parser';

export interface LeanEc2Credentials {
  readonly accessKeyId: string;
  readonly secretAccessKey: string;
}

/** An EC2 refusal as the lean client reads it: the HTTP status and EC2's `<Code>`. */
export class LeanEc2Error extends Error {
  constructor(readonly status: number, readonly awsCode: string, message: string) {
    super(`${awsCode}: ${message}`);
    this.name = 'LeanEc2Error';
  }
}

/**
 * SHA-256 and HMAC-SHA-256 on node:crypto, for the signer: what the SDK itself
 * signs with in Node (`@smithy/core/checksum`'s Sha256, not a direct
 * dependency of ours), rather than the pure-JS `@aws-crypto/sha256-js`. It
 * halves signing when warm (0.026 against 0.054 ms a call), but at one call
 * every 20 ms, as the bench polls, signing costs ~0.12 ms with either hash:
 * SigV4's own work on code gone cold, which every SigV4 client pays.
 */
class NodeSha256 {
  readonly #secret: string | Uint8Array | undefined;
  #hash: Hash | Hmac;

  constructor(secret?: string | ArrayBuffer | ArrayBufferView) {
    this.#secret = secret === undefined || typeof secret === 'string' ? secret
      : ArrayBuffer.isView(secret) ? new Uint8Array(secret.buffer, secret.byteOffset, secret.byteLength) : new Uint8Array(secret);
    this.#hash = this.#fresh();
  }

  #fresh(): Hash | Hmac {
    return this.#secret === undefined ? createHash('sha256') : createHmac('sha256', this.#secret);
  }

  update(data: string | ArrayBuffer | ArrayBufferView): void {
    this.#hash.update(typeof data === 'string' ? data : ArrayBuffer.isView(data) ? new Uint8Array(data.buffer, data.byteOffset, data.byteLength) : new Uint8Array(data));
  }

  digest(): Promise<Uint8Array> {
    const buf = this.#hash.digest();
    return Promise.resolve(new Uint8Array(buf.buffer, buf.byteOffset, buf.byteLength));
  }

  reset(): void {
    this.#hash = this.#fresh();
  }
}

/**
 * The EC2 Query API with nothing between the caller and the wire but SigV4:
 * `fetch` (undici, as NuboClient's), `@smithy/signature-v4` — the SDK's own
 * signer, so the signature is the one the SDK makes, over node:crypto's
 * SHA-256 as the SDK's in Node — and fast-xml-parser for
 * the answer. It is to the EC2 endpoint what NuboClient is to the native API:
 * bench/ec2.ts times nubo's EC2 API with it beside the SDK, whose middleware
 * stack and XML deserialiser cost several ms a call on their own.
 */
export class LeanEc2Client {
  readonly #url: URL;
  readonly #signer: SignatureV4;
  readonly #xml = new XMLParser({ ignoreAttributes: true, parseTagValue: false, isArray: (name) => name === 'item' });

  constructor(endpoint: string, credentials: LeanEc2Credentials, region = 'nubo-1') {
    this.#url = new URL(endpoint);
    this.#signer = new SignatureV4({ credentials, region, service: 'ec2', sha256: NodeSha256 });
  }

  /** One action; the answer's XML as an object (the `<…Response>` element's children). */
  async call(action: string, params: Readonly<Record<string, string>>, timeoutMs = 30_000): Promise<Record<string, unknown>> {
    const body = new URLSearchParams({ Action: action, Version: '2016-11-15', ...params }).toString();
    const signed = await this.#signer.sign({
      method: 'POST', protocol: this.#url.protocol, hostname: this.#url.hostname, port: Number(this.#url.port), path: '/', query: {},
      headers: { host: this.#url.host, 'content-type': 'application/x-www-form-urlencoded; charset=utf-8' }, body,
    });
    // undici sets Host itself (the same host:port that was signed).
    const { host: _host, ...headers } = signed.headers;
    const res = await fetch(this.#url, { method: 'POST', headers, body, signal: AbortSignal.timeout(timeoutMs) });
    const text = await res.text();
    const doc = this.#xml.parse(text) as Record<string, Record<string, unknown> | undefined>;
    if (!res.ok) {
      const err = (doc['Response']?.['Errors'] as { Error?: { Code?: string; Message?: string } } | undefined)?.Error;
      throw new LeanEc2Error(res.status, err?.Code ?? `HTTP_${res.status}`, err?.Message ?? text.slice(0, 200));
    }
    const top = doc[`${action}Response`];
    if (top === undefined) throw new LeanEc2Error(res.status, 'UnexpectedAnswer', `no <${action}Response> in: ${text.slice(0, 200)}`);
    return top;
  }

  /** RunInstances of one instance; its id. */
  async runInstance(params: Readonly<Record<string, string>>): Promise<string> {
    const out = await this.call('RunInstances', { MinCount: '1', MaxCount: '1', ...params });
    const id = firstInstance(out['instancesSet'])?.['instanceId'];
    if (typeof id !== 'string') throw new LeanEc2Error(200, 'UnexpectedAnswer', 'RunInstances named no instance');
    return id;
  }

  /** The state name of one instance (DescribeInstances InstanceId.1); undefined once it is no longer listed. */
  async instanceState(id: string): Promise<string | undefined> {
    const out = await this.call('DescribeInstances', { 'InstanceId.1': id });
    const reservation = (out['reservationSet'] as { item?: Record<string, unknown>[] } | undefined)?.item?.[0];
    const state = firstInstance(reservation?.['instancesSet'])?.['instanceState'] as { name?: unknown } | undefined;
    return typeof state?.name === 'string' ? state.name : undefined;
  }

  async terminate(id: string): Promise<void> {
    await this.call('TerminateInstances', { 'InstanceId.1': id });
  }
}

function firstInstance(set: unknown): Record<string, unknown> | undefined {
  return (set as { item?: Record<string, unknown>[] } | undefined)?.item?.[0];
}
