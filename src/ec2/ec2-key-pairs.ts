import { parseSshPublicKey } from '../util/ssh-public-key.js';
import { Ec2ApiError, invalidParameterValue } from './ec2-api-error.js';
import { nativeCall, type Ec2Call, type Ec2Context, type Ec2Handler } from './ec2-context.js';
import { checkFilters, passesFilters } from './ec2-filters.js';
import { generateKeyPair } from './generate-key-pair.js';
import { newEc2Id } from './ec2-ids.js';
import type { KeyPairRecord } from './ec2-records.js';

const KEY_NAME = /^[\x20-\x7e]{1,255}$/;

function keyName(call: Ec2Call): string {
  const name = call.params.required('KeyName');
  if (!KEY_NAME.test(name)) throw invalidParameterValue('KeyName', 'must be 1-255 printable ASCII characters');
  return name;
}

async function add(ctx: Ec2Context, call: Ec2Call, name: string, keyType: string, publicKey: string): Promise<KeyPairRecord> {
  const parsed = parseSshPublicKey(publicKey);
  if (typeof parsed === 'string') throw invalidParameterValue('PublicKeyMaterial', parsed);
  const record = { id: newEc2Id('key-pair'), ownerId: call.userId, name, keyType, fingerprint: parsed.fingerprint, publicKey: `${parsed.type} ${parsed.blob} ${name}` };
  if (!(await ctx.records.addKeyPair(record))) throw new Ec2ApiError('InvalidKeyPair.Duplicate', `The keypair '${name}' already exists.`);
  return { ...record, createdAt: new Date().toISOString() };
}

/** CreateKeyPair: generated here (RSA 2048 by default, or ed25519); the private key is in this answer only. */
export const createKeyPair: Ec2Handler = async (ctx, call) => {
  const name = keyName(call);
  const type = call.params.optional('KeyType') ?? 'rsa';
  if (type !== 'rsa' && type !== 'ed25519') throw invalidParameterValue('KeyType', `${JSON.stringify(type)} is neither rsa nor ed25519`);
  const format = call.params.optional('KeyFormat') ?? 'pem';
  if (format !== 'pem') throw invalidParameterValue('KeyFormat', 'only pem is supported');
  const generated = generateKeyPair(type, name);
  const k = await add(ctx, call, name, type, generated.publicKey);
  return { keyName: k.name, keyFingerprint: k.fingerprint, keyMaterial: generated.privateKey, keyPairId: k.id };
};

/** ImportKeyPair: `PublicKeyMaterial` is the base64 of a `.pub` line (the SDKs encode the blob they are given). */
export const importKeyPair: Ec2Handler = async (ctx, call) => {
  const name = keyName(call);
  const material = call.params.required('PublicKeyMaterial');
  const line = Buffer.from(material, 'base64').toString('utf8').trim();
  const k = await add(ctx, call, name, line.startsWith('ssh-ed25519 ') ? 'ed25519' : 'rsa', line);
  return { keyName: k.name, keyFingerprint: k.fingerprint, keyPairId: k.id };
};

/** DescribeKeyPairs: the caller's own; a name or id asked for and not there is `InvalidKeyPair.NotFound`. */
export const describeKeyPairs: Ec2Handler = async (ctx, call) => {
  const filters = call.params.filters();
  checkFilters(filters, ['key-name', 'key-pair-id', 'fingerprint', 'key-type']);
  const names = call.params.list('KeyName');
  const ids = call.params.list('KeyPairId');
  const mine = await ctx.records.keyPairs(call.userId);
  for (const n of names) if (!mine.some((k) => k.name === n)) throw new Ec2ApiError('InvalidKeyPair.NotFound', `The key pair '${n}' does not exist`);
  for (const id of ids) if (!mine.some((k) => k.id === id)) throw new Ec2ApiError('InvalidKeyPair.NotFound', `The key pair '${id}' does not exist`);
  const tags = await ctx.records.tags(call.userId, mine.map((k) => k.id));
  const shown = mine.filter((k) => (names.length === 0 || names.includes(k.name)) && (ids.length === 0 || ids.includes(k.id)))
    .map((k) => ({ k, tags: new Map(tags.filter((t) => t.resourceId === k.id).map((t) => [t.key, t.value])) }))
    .filter(({ k, tags: t }) => passesFilters(filters, { fields: { 'key-name': [k.name], 'key-pair-id': [k.id], fingerprint: [k.fingerprint], 'key-type': [k.keyType] }, tags: t }));
  return {
    keySet: shown.map(({ k, tags: t }) => ({
      keyPairId: k.id, keyName: k.name, keyFingerprint: k.fingerprint, keyType: k.keyType, createTime: k.createdAt, publicKey: k.publicKey,
      tagSet: [...t].map(([key, value]) => ({ key, value })),
    })),
  };
};

/** DeleteKeyPair: by name or id; deleting one that is not there succeeds (as EC2). Running instances keep the key they booted with. */
export const deleteKeyPair: Ec2Handler = async (ctx, call) => {
  const name = call.params.optional('KeyName');
  const id = call.params.optional('KeyPairId');
  if (name === undefined && id === undefined) throw new Ec2ApiError('MissingParameter', 'The request must contain the parameter KeyName or KeyPairId');
  const k = (await ctx.records.keyPairs(call.userId)).find((x) => x.name === name || x.id === id);
  if (k) await ctx.records.deleteKeyPair(call.userId, k.name);
  return { return: true };
};

/**
 * The key pair's public key in the caller's ssh keys (native: the config drive of every VM created afterwards gets
 * those). RunInstances hands in the record it found while checking its parameters (read once per request).
 */
export async function ensureKeyInUserKeys(ctx: Ec2Context, call: Ec2Call, k: KeyPairRecord): Promise<void> {
  const me = await nativeCall<{ sshKeys: string[] }>(ctx, call, 'GET', '/api/v1/users/me', undefined);
  const blob = k.publicKey.split(' ')[1];
  if (me.sshKeys.some((line) => line.split(/\s+/)[1] === blob)) return;
  await nativeCall(ctx, call, 'PUT', '/api/v1/users/me/ssh-keys', { sshKeys: [...me.sshKeys, k.publicKey] }, { fields: { sshKeys: 'KeyName' } });
}
