import { isIP } from 'node:net';
import { randomBytes } from 'node:crypto';
import { rename, rm, writeFile } from 'node:fs/promises';
import { basename, dirname, join } from 'node:path';
import type { FieldIssue } from '../errors/validation-error.js';
import { ValidationError } from '../errors/validation-error.js';
import { buildIso9660Image } from './iso9660-image.js';

export interface ConfigDriveNic {
  readonly mac: string;
  /** CIDR, e.g. 198.18.64.10/24 (IPv6 accepted too). */
  readonly addresses: readonly string[];
  readonly gateway?: string;
  readonly dns?: readonly string[];
}

export interface ConfigDriveSpec {
  readonly instanceId: string;
  readonly hostname: string;
  readonly nics?: readonly ConfigDriveNic[];
  /** Passed through verbatim; nubo-tiny runs it when it starts with `#!`. */
  readonly userData?: string;
  readonly sshAuthorizedKeys?: readonly string[];
}

export interface NoCloudFiles {
  readonly metaData: string;
  readonly networkConfig: string;
  readonly userData: string;
}

/** The label cloud-init (and nubo-tiny's init) look for. */
export const CONFIG_DRIVE_LABEL = 'cidata';

const MAC = /^[0-9a-f]{2}(:[0-9a-f]{2}){5}$/i;
// Conservative: it is printed on the console, written into HTML and YAML
// unquoted, and used in file names by callers.
const INSTANCE_ID = /^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$/;
const LABEL = /^(?!-)[A-Za-z0-9-]{1,63}(?<!-)$/;

/**
 * Renders the three NoCloud files. Pure. Block-style YAML only, in exactly the
 * shape nubo-tiny's awk reader understands; strings that YAML could mistake
 * for something else (MACs read as base-60 numbers by YAML 1.1, keys with
 * spaces) are double-quoted.
 */
export function renderNoCloud(spec: ConfigDriveSpec): NoCloudFiles {
  validateSpec(spec);
  const meta = [`instance-id: ${spec.instanceId}`, `local-hostname: ${spec.hostname}`];
  const keys = spec.sshAuthorizedKeys ?? [];
  if (keys.length > 0) {
    meta.push('public-keys:', ...keys.map((k) => `  - ${quote(k.trim())}`));
  }

  const net = ['version: 2'];
  const nics = spec.nics ?? [];
  if (nics.length === 0) {
    net.push('ethernets: {}');
  } else {
    net.push('ethernets:');
    nics.forEach((nic, i) => {
      const name = `eth${i}`;
      net.push(
        `  ${name}:`,
        '    match:',
        `      macaddress: ${quote(nic.mac.toLowerCase())}`,
        `    set-name: ${name}`,
      );
      if (nic.addresses.length > 0) {
        net.push('    addresses:', ...nic.addresses.map((a) => `      - ${a}`));
      }
      if (nic.gateway !== undefined) {
        net.push(`    ${isIP(nic.gateway) === 6 ? 'gateway6' : 'gateway4'}: ${nic.gateway}`);
      }
      const dns = nic.dns ?? [];
      if (dns.length > 0) {
        net.push('    nameservers:', '      addresses:', ...dns.map((d) => `        - ${d}`));
      }
    });
  }

  return {
    metaData: `${meta.join('\n')}\n`,
    networkConfig: `${net.join('\n')}\n`,
    // cloud-init wants a recognisable user-data; an empty cloud-config is the
    // "nothing to do" value.
    userData: spec.userData ?? '#cloud-config\n',
  };
}

/**
 * Writes a NoCloud ISO (volume label `cidata`) to `path`. The image is built
 * in memory (a few KiB: no `genisoimage` process per VM) and written to a temp
 * file beside `path`, then renamed into place, so a reader never sees a
 * partial image and a failure leaves the old one untouched.
 */
export async function buildConfigDrive(path: string, spec: ConfigDriveSpec, opts: { signal?: AbortSignal } = {}): Promise<void> {
  const files = renderNoCloud(spec);
  // Rock Ridge keeps the real (lower-case, hyphenated) names and modes; Joliet serves Windows guests' cloudbase-init.
  const image = buildIso9660Image([
    { name: 'meta-data', data: Buffer.from(files.metaData) },
    { name: 'network-config', data: Buffer.from(files.networkConfig) },
    { name: 'user-data', data: Buffer.from(files.userData) },
  ], { volumeId: CONFIG_DRIVE_LABEL });
  const tmp = join(dirname(path), `.${basename(path)}-${randomBytes(6).toString('hex')}`);
  try {
    await writeFile(tmp, image, { flag: 'wx', ...(opts.signal ? { signal: opts.signal } : {}) });
    await rename(tmp, path);
  } finally {
    await rm(tmp, { force: true });
  }
}

function validateSpec(spec: ConfigDriveSpec): void {
  const issues: FieldIssue[] = [];
  const bad = (field: string, message: string): void => {
    issues.push({ field, message });
  };
  if (!INSTANCE_ID.test(spec.instanceId)) {
    bad('instanceId', 'must be 1-128 characters of letters, digits, ".", "_" or "-", starting with a letter or digit');
  }
  if (!isHostname(spec.hostname)) {
    bad('hostname', 'must be an RFC 1123 host name: dot-separated labels of 1-63 letters, digits or "-", not starting or ending with "-", at most 253 characters');
  }
  const seen = new Map<string, number>();
  (spec.nics ?? []).forEach((nic, i) => {
    const at = `nics.${i}`;
    if (!MAC.test(nic.mac)) {
      bad(`${at}.mac`, `"${nic.mac}" is not a MAC address like 52:54:00:12:34:56`);
    } else {
      // The low bit of the first octet marks a multicast address, which no NIC can have.
      if (parseInt(nic.mac.slice(0, 2), 16) & 1) bad(`${at}.mac`, `${nic.mac} is a multicast address`);
      const prev = seen.get(nic.mac.toLowerCase());
      if (prev !== undefined) bad(`${at}.mac`, `same MAC as nics.${prev}`);
      seen.set(nic.mac.toLowerCase(), i);
    }
    nic.addresses.forEach((a, j) => {
      if (!isCidr(a)) bad(`${at}.addresses.${j}`, `"${a}" is not an address with prefix length like 198.18.64.10/24`);
    });
    if (nic.gateway !== undefined && isIP(nic.gateway) === 0) {
      bad(`${at}.gateway`, `"${nic.gateway}" is not an IP address`);
    }
    (nic.dns ?? []).forEach((d, j) => {
      if (isIP(d) === 0) bad(`${at}.dns.${j}`, `"${d}" is not an IP address`);
    });
  });
  (spec.sshAuthorizedKeys ?? []).forEach((k, i) => {
    // One key per line in every consumer; a newline would smuggle in YAML.
    if (!/^\S+ \S+/.test(k.trim()) || /[\r\n]/.test(k.trim())) bad(`sshAuthorizedKeys.${i}`, 'must be one "type base64 [comment]" line');
  });
  if (issues.length > 0) throw new ValidationError('config drive', issues);
}

function isHostname(name: string): boolean {
  return name.length >= 1 && name.length <= 253 && name.split('.').every((l) => LABEL.test(l));
}

function isCidr(s: string): boolean {
  const m = /^([^/]+)\/(\d{1,3})$/.exec(s);
  if (!m?.[1] || !m[2]) return false;
  const family = isIP(m[1]);
  const prefix = Number(m[2]);
  return (family === 4 && prefix <= 32) || (family === 6 && prefix <= 128);
}

/** A YAML double-quoted scalar; JSON's escapes are a subset of YAML's. */
function quote(s: string): string {
  return JSON.stringify(s);
}
