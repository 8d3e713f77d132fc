import { DOMParser, type Element } from '@xmldom/xmldom';
import { allocationUnitBytes } from './allocation-units.js';
import type { OvfDisk, OvfEnvelope, OvfFile, OvfNic, OvfNuboSettings, OvfVirtualSystem } from './ovf-envelope.js';
import { OvfError } from './ovf-error.js';
import { NUBO_OVF_NS, OVF09_NS, OVF2_NS, OVF_NS, RASD_NS, RESOURCE_TYPE } from './ovf-namespaces.js';

/**
 * Reads an OVF 1.x descriptor. Elements are matched by namespace URI and
 * local name, so any prefix spelling works (`ovf:Disk`, a default namespace,
 * `rasd:` declared on each Item); attributes are read as `ovf:x`, or as a bare
 * `x` as some tools write them. Of several DeploymentOptionSection
 * configurations, the default one's hardware is taken. Throws OvfError naming
 * the element at fault.
 */
export function parseOvfEnvelope(xml: string): OvfEnvelope {
  const root = parseXml(xml);
  if (root.localName !== 'Envelope' || root.namespaceURI !== OVF_NS) {
    const ns = root.namespaceURI ?? '';
    if (root.localName === 'Envelope' && ns === OVF2_NS) throw new OvfError('Envelope', 'this is an OVF 2.x envelope; nubo imports OVF 1.x');
    if (root.localName === 'Envelope' && ns === OVF09_NS) throw new OvfError('Envelope', 'this is an OVF 0.9 envelope; nubo imports OVF 1.x');
    throw new OvfError('', `not an OVF envelope: the root element is ${root.localName}${ns ? ` in namespace ${ns}` : ' in no namespace'}, not Envelope in ${OVF_NS}`);
  }
  const files = children(child(root, OVF_NS, 'References'), OVF_NS, 'File').map(parseFile);
  unique(files.map((f) => f.id), 'References/File', 'ovf:id');
  const diskSection = child(root, OVF_NS, 'DiskSection');
  const disks = children(diskSection, OVF_NS, 'Disk').map(parseDisk);
  unique(disks.map((d) => d.id), 'DiskSection/Disk', 'ovf:diskId');
  for (const d of disks) {
    if (d.fileRef !== undefined && !files.some((f) => f.id === d.fileRef)) throw new OvfError(`Disk ${d.id}`, `ovf:fileRef ${d.fileRef} names no File of References`);
  }
  const networks = children(child(root, OVF_NS, 'NetworkSection'), OVF_NS, 'Network').map((n, i) => required(n, 'name', `NetworkSection/Network[${i + 1}]`));
  const vs = child(root, OVF_NS, 'VirtualSystem');
  if (!vs) {
    if (child(root, OVF_NS, 'VirtualSystemCollection')) throw new OvfError('VirtualSystemCollection', 'a multi-VM appliance; nubo imports an envelope with one VirtualSystem');
    throw new OvfError('Envelope', 'has no VirtualSystem');
  }
  const system = parseVirtualSystem(vs, defaultConfiguration(root));
  for (const id of system.diskIds) {
    if (!disks.some((d) => d.id === id)) throw new OvfError(`VirtualSystem ${system.id}`, `a disk Item refers to disk ${id}, which DiskSection does not declare`);
  }
  for (const [what, ref] of [['kernel', system.nubo?.kernelFileRef], ['initrd', system.nubo?.initrdFileRef]] as const) {
    if (ref !== undefined && !files.some((f) => f.id === ref)) throw new OvfError(`VirtualSystem ${system.id}`, `the nubo ${what} refers to File ${ref}, which References does not declare`);
  }
  return { files, disks, networks, system };
}

function parseXml(xml: string): Element {
  // The parser's own report, not the ParseError that wraps it.
  let first: string | undefined;
  try {
    const doc = new DOMParser({
      onError: (level, msg) => {
        if (level === 'warning') return;
        first ??= msg;
        throw new OvfError('', msg);
      },
    }).parseFromString(xml, 'application/xml');
    if (!doc.documentElement) throw new OvfError('', 'no root element');
    return doc.documentElement;
  } catch (err) {
    const why = first ?? (err as Error).message;
    throw new OvfError('', `not well-formed XML: ${why.split('\n')[0] ?? ''}`, { cause: err });
  }
}

function parseFile(f: Element, i: number): OvfFile {
  const where = `References/File[${i + 1}]`;
  const id = required(f, 'id', where);
  const href = required(f, 'href', `File ${id}`);
  const compression = attr(f, 'compression');
  if (compression !== undefined && compression !== 'identity') throw new OvfError(`File ${id}`, `ovf:compression ${compression} is not supported`);
  if (attr(f, 'chunkSize') !== undefined) throw new OvfError(`File ${id}`, 'chunked files (ovf:chunkSize) are not supported');
  const size = attr(f, 'size');
  return { id, href, ...(size !== undefined ? { size: count(size, `File ${id}`, 'ovf:size') } : {}) };
}

function parseDisk(d: Element, i: number): OvfDisk {
  const id = required(d, 'diskId', `DiskSection/Disk[${i + 1}]`);
  const where = `Disk ${id}`;
  const units = attr(d, 'capacityAllocationUnits') ?? 'byte';
  const unit = allocationUnitBytes(units);
  if (unit === undefined) throw new OvfError(where, `ovf:capacityAllocationUnits ${JSON.stringify(units)} is not a unit of bytes`);
  const capacityBytes = count(required(d, 'capacity', where), where, 'ovf:capacity') * unit;
  if (!Number.isSafeInteger(capacityBytes) || capacityBytes <= 0) throw new OvfError(where, `ovf:capacity ${capacityBytes} bytes is not a usable disk size`);
  const fileRef = attr(d, 'fileRef');
  const format = attr(d, 'format');
  const populated = attr(d, 'populatedSize');
  return {
    id,
    capacityBytes,
    ...(fileRef !== undefined ? { fileRef } : {}),
    ...(format !== undefined ? { format } : {}),
    ...(populated !== undefined ? { populatedSize: count(populated, where, 'ovf:populatedSize') } : {}),
  };
}

/** The ovf:id of the DeploymentOptionSection's default Configuration (else its first), if there is one. */
function defaultConfiguration(root: Element): string | undefined {
  const configs = children(child(root, OVF_NS, 'DeploymentOptionSection'), OVF_NS, 'Configuration');
  const chosen = configs.find((c) => attr(c, 'default') === 'true') ?? configs[0];
  return chosen && attr(chosen, 'id');
}

function parseVirtualSystem(vs: Element, configuration: string | undefined): OvfVirtualSystem {
  const id = required(vs, 'id', 'VirtualSystem');
  const where = `VirtualSystem ${id}`;
  const name = text(child(vs, OVF_NS, 'Name')) || id;
  const hw = child(vs, OVF_NS, 'VirtualHardwareSection');
  if (!hw) throw new OvfError(where, 'has no VirtualHardwareSection');
  // Items that name configurations apply only to those; the rest apply to every one.
  const items = children(hw, OVF_NS, 'Item').filter((item) => {
    const only = attr(item, 'configuration');
    return only === undefined || configuration === undefined || only.split(/\s+/).includes(configuration);
  });
  const typed = items.map((item, i) => {
    const label = text(child(item, RASD_NS, 'ElementName')) || text(child(item, RASD_NS, 'InstanceID')) || String(i + 1);
    const rt = text(child(item, RASD_NS, 'ResourceType'));
    return { item, type: /^\d+$/.test(rt) ? Number(rt) : NaN, where: `VirtualHardwareSection/Item ${label}` };
  });
  const cpu = typed.find((t) => t.type === RESOURCE_TYPE.cpu);
  if (!cpu) throw new OvfError(where, 'the VirtualHardwareSection has no CPU Item (rasd:ResourceType 3)');
  const vcpus = count(text(child(cpu.item, RASD_NS, 'VirtualQuantity')), cpu.where, 'rasd:VirtualQuantity (the number of vCPUs)');
  const mem = typed.find((t) => t.type === RESOURCE_TYPE.memory);
  if (!mem) throw new OvfError(where, 'the VirtualHardwareSection has no memory Item (rasd:ResourceType 4)');
  const quantity = count(text(child(mem.item, RASD_NS, 'VirtualQuantity')), mem.where, 'rasd:VirtualQuantity (the memory size)');
  // Without AllocationUnits, MiB: what every tool that omits it means.
  const units = text(child(mem.item, RASD_NS, 'AllocationUnits')) || 'byte * 2^20';
  const unit = allocationUnitBytes(units);
  if (unit === undefined) throw new OvfError(mem.where, `rasd:AllocationUnits ${JSON.stringify(units)} is not a unit of bytes`);
  const memoryMiB = Math.ceil((quantity * unit) / 2 ** 20);
  const diskIds = typed
    .filter((t) => t.type === RESOURCE_TYPE.disk)
    .map((t) => {
      const host = text(child(t.item, RASD_NS, 'HostResource'));
      const m = /^(?:ovf:)?\/disk\/(.+)$/.exec(host);
      if (!m?.[1]) throw new OvfError(t.where, `rasd:HostResource ${JSON.stringify(host)} does not name a disk (ovf:/disk/<id>)`);
      return m[1];
    });
  const nics = typed
    .filter((t) => t.type === RESOURCE_TYPE.nic)
    .map((t): OvfNic => {
      const network = text(child(t.item, RASD_NS, 'Connection'));
      return network ? { network } : {};
    });
  const nuboSection = child(vs, NUBO_OVF_NS, 'TemplateSection');
  return { id, name, vcpus, memoryMiB, diskIds, nics, ...(nuboSection ? { nubo: parseNubo(nuboSection, where) } : {}) };
}

function parseNubo(s: Element, where: string): OvfNuboSettings {
  const value = (local: string): string | undefined => {
    const e = child(s, NUBO_OVF_NS, local);
    return e ? (e.textContent ?? '') : undefined;
  };
  const fileRef = (local: string): string | undefined => {
    const e = child(s, NUBO_OVF_NS, local);
    return e ? required(e, 'fileRef', `${where} nubo:${local}`) : undefined;
  };
  const diskMode = value('DiskMode');
  if (diskMode !== undefined && diskMode !== 'overlay' && diskMode !== 'copy') throw new OvfError(`${where} nubo:DiskMode`, `${JSON.stringify(diskMode)} is neither overlay nor copy`);
  const datastore = value('Datastore');
  if (datastore !== undefined && datastore !== 'local' && datastore !== 'shared') throw new OvfError(`${where} nubo:Datastore`, `${JSON.stringify(datastore)} is neither local nor shared`);
  const out: { -readonly [K in keyof OvfNuboSettings]: OvfNuboSettings[K] } = {};
  const cpuModel = value('CpuModel');
  if (cpuModel !== undefined) out.cpuModel = cpuModel.trim();
  if (diskMode !== undefined) out.diskMode = diskMode;
  if (datastore !== undefined) out.datastore = datastore;
  const kernel = fileRef('Kernel');
  if (kernel !== undefined) out.kernelFileRef = kernel;
  const initrd = fileRef('Initrd');
  if (initrd !== undefined) out.initrdFileRef = initrd;
  const cmdline = value('Cmdline');
  if (cmdline !== undefined) out.cmdline = cmdline;
  const userDataEl = child(s, NUBO_OVF_NS, 'UserData');
  if (userDataEl) {
    const raw = userDataEl.textContent ?? '';
    out.userData = userDataEl.getAttribute('encoding') === 'base64' ? Buffer.from(raw.replace(/\s+/g, ''), 'base64').toString('utf8') : raw;
  }
  const requirements = value('Requirements');
  if (requirements !== undefined) out.requirements = requirements;
  return out;
}

// ---------- DOM helpers ----------

function children(parent: Element | undefined, ns: string, local: string): Element[] {
  if (!parent) return [];
  const out: Element[] = [];
  for (let n = parent.firstChild; n; n = n.nextSibling) {
    const e = n as Element;
    if (n.nodeType === 1 && e.namespaceURI === ns && e.localName === local) out.push(e);
  }
  return out;
}

function child(parent: Element | undefined, ns: string, local: string): Element | undefined {
  return children(parent, ns, local)[0];
}

function text(e: Element | undefined): string {
  return (e?.textContent ?? '').trim();
}

/** `ovf:name`, or a bare `name`: unprefixed attributes are in no namespace, and some tools write them so. */
function attr(e: Element, local: string): string | undefined {
  if (e.hasAttributeNS(OVF_NS, local)) return e.getAttributeNS(OVF_NS, local) ?? undefined;
  if (e.hasAttribute(local)) return e.getAttribute(local) ?? undefined;
  return undefined;
}

function required(e: Element, local: string, where: string): string {
  const v = attr(e, local)?.trim();
  if (!v) throw new OvfError(where, `has no ovf:${local}`);
  return v;
}

function count(value: string, where: string, what: string): number {
  const n = Number(value.trim());
  if (!/^\d+$/.test(value.trim()) || !Number.isSafeInteger(n) || n <= 0) {
    throw new OvfError(where, value.trim() === '' ? `has no ${what}` : `${what} ${JSON.stringify(value.trim())} is not a positive whole number`);
  }
  return n;
}

function unique(ids: readonly string[], where: string, what: string): void {
  const dup = ids.find((id, i) => ids.indexOf(id) !== i);
  if (dup !== undefined) throw new OvfError(where, `${what} ${dup} is used twice`);
}
