import { generateKeyPairSync, randomBytes } from 'node:crypto';

export interface GeneratedKeyPair {
  /** The private key as ssh reads it: PKCS#1 PEM for RSA (as EC2 returns), the OpenSSH format for ed25519 (which has no PEM form ssh reads). */
  readonly privateKey: string;
  /** One `.pub` line. */
  readonly publicKey: string;
}

/** CreateKeyPair's key: made here, returned once, only its public half kept. */
export function generateKeyPair(type: 'rsa' | 'ed25519', comment: string): GeneratedKeyPair {
  if (type === 'rsa') {
    const { publicKey, privateKey } = generateKeyPairSync('rsa', { modulusLength: 2048, publicExponent: 0x10001 });
    const jwk = publicKey.export({ format: 'jwk' });
    const blob = Buffer.concat([sshString('ssh-rsa'), sshMpint(b64url(jwk.e)), sshMpint(b64url(jwk.n))]);
    return { privateKey: privateKey.export({ type: 'pkcs1', format: 'pem' }).toString(), publicKey: `ssh-rsa ${blob.toString('base64')} ${comment}` };
  }
  const { publicKey, privateKey } = generateKeyPairSync('ed25519');
  const pub = b64url(publicKey.export({ format: 'jwk' }).x);
  const seed = b64url(privateKey.export({ format: 'jwk' }).d);
  const pubBlob = Buffer.concat([sshString('ssh-ed25519'), sshString(pub)]);
  return { privateKey: openSshPrivateKey(pubBlob, seed, pub, comment), publicKey: `ssh-ed25519 ${pubBlob.toString('base64')} ${comment}` };
}

/** PROTOCOL.key of OpenSSH: one unencrypted ed25519 key. */
function openSshPrivateKey(pubBlob: Buffer, seed: Buffer, pub: Buffer, comment: string): string {
  const check = randomBytes(4);
  let priv = Buffer.concat([check, check, sshString('ssh-ed25519'), sshString(pub), sshString(Buffer.concat([seed, pub])), sshString(comment)]);
  const pad: number[] = [];
  for (let i = 1; (priv.length + pad.length) % 8 !== 0; i++) pad.push(i);
  priv = Buffer.concat([priv, Buffer.from(pad)]);
  const body = Buffer.concat([Buffer.from('openssh-key-v1\0', 'latin1'), sshString('none'), sshString('none'), sshString(''), uint32(1), sshString(pubBlob), sshString(priv)]);
  const lines = body.toString('base64').match(/.{1,70}/g) ?? [];
  return `-----BEGIN OPENSSH PRIVATE KEY-----\n${lines.join('\n')}\n-----END OPENSSH PRIVATE KEY-----\n`;
}

function b64url(v: string | undefined): Buffer {
  if (v === undefined) throw new TypeError('JWK export lacks a field');
  return Buffer.from(v, 'base64url');
}

function uint32(n: number): Buffer {
  const b = Buffer.alloc(4);
  b.writeUInt32BE(n);
  return b;
}

function sshString(v: string | Buffer): Buffer {
  const b = typeof v === 'string' ? Buffer.from(v, 'utf8') : v;
  return Buffer.concat([uint32(b.length), b]);
}

function sshMpint(v: Buffer): Buffer {
  let i = 0;
  while (i < v.length - 1 && v[i] === 0) i++;
  const trimmed = v.subarray(i);
  return sshString((trimmed[0] ?? 0) & 0x80 ? Buffer.concat([Buffer.from([0]), trimmed]) : trimmed);
}
