import { DOMImplementation, XMLSerializer, type Document, type Element } from '@xmldom/xmldom';
import type { OvfEnvelope } from './ovf-envelope.js';
import { NUBO_OVF_NS, OVF_NS, RASD_NS, RESOURCE_TYPE, VSSD_NS, XMLNS_NS } from './ovf-namespaces.js';

type Attrs = Readonly<Record<string, string | number | undefined>>;
/** An element to write: namespace, qualified name, ovf: attributes, and text or children. */
interface Node {
  readonly ns: string;
  readonly name: string;
  readonly attrs?: Attrs;
  readonly content?: string | readonly (Node | false | undefined)[];
}

const ovf = (name: string, attrs: Attrs = {}, content?: Node['content']): Node => ({ ns: OVF_NS, name, attrs, ...(content !== undefined ? { content } : {}) });
const rasd = (name: string, value: string | number): Node => ({ ns: RASD_NS, name: `rasd:${name}`, content: String(value) });
const vssd = (name: string, value: string): Node => ({ ns: VSSD_NS, name: `vssd:${name}`, content: value });
const nubo = (name: string, attrs: Attrs = {}, content?: string): Node => ({ ns: NUBO_OVF_NS, name: `nubo:${name}`, attrs, ...(content !== undefined ? { content } : {}) });

/**
 * Writes an OVF 1.x descriptor in the style VMware's and VirtualBox's
 * importers expect: OVF as the default namespace with `ovf:` attributes, an
 * IDE controller the disk hangs off, rasd elements in the CIM schema's
 * (alphabetical) order, and nubo's settings in a section marked
 * ovf:required="false" that other importers skip.
 */
export function buildOvfEnvelope(env: OvfEnvelope): string {
  const s = env.system;
  const ide = 3;
  const items: Node[] = [
    ovf('Item', {}, [
      rasd('AllocationUnits', 'hertz * 10^6'), rasd('Description', 'Number of Virtual CPUs'), rasd('ElementName', `${s.vcpus} virtual CPU(s)`),
      rasd('InstanceID', 1), rasd('ResourceType', RESOURCE_TYPE.cpu), rasd('VirtualQuantity', s.vcpus),
    ]),
    ovf('Item', {}, [
      rasd('AllocationUnits', 'byte * 2^20'), rasd('Description', 'Memory Size'), rasd('ElementName', `${s.memoryMiB}MB of memory`),
      rasd('InstanceID', 2), rasd('ResourceType', RESOURCE_TYPE.memory), rasd('VirtualQuantity', s.memoryMiB),
    ]),
    ovf('Item', {}, [rasd('Address', 0), rasd('Description', 'IDE Controller'), rasd('ElementName', 'ideController0'), rasd('InstanceID', ide), rasd('ResourceType', RESOURCE_TYPE.ideController)]),
    ...s.diskIds.map((id, i) =>
      ovf('Item', {}, [rasd('AddressOnParent', i), rasd('ElementName', `disk${i + 1}`), rasd('HostResource', `ovf:/disk/${id}`), rasd('InstanceID', 4 + i), rasd('Parent', ide), rasd('ResourceType', RESOURCE_TYPE.disk)]),
    ),
    ...s.nics.map((n, i) =>
      ovf('Item', {}, [
        rasd('AddressOnParent', i), rasd('AutomaticAllocation', 'true'), n.network !== undefined && rasd('Connection', n.network), rasd('Description', 'virtio network adapter'),
        rasd('ElementName', `ethernet${i}`), rasd('InstanceID', 4 + s.diskIds.length + i), rasd('ResourceSubType', 'virtio'), rasd('ResourceType', RESOURCE_TYPE.nic),
      ]),
    ),
  ];
  const n = s.nubo;
  const nuboSection: Node | undefined = n && {
    ns: NUBO_OVF_NS,
    name: 'nubo:TemplateSection',
    attrs: { 'ovf:required': 'false' },
    content: [
      ovf('Info', {}, 'nubo template settings: CPU model, disk mode and datastore, direct kernel boot, user data, placement requirements'),
      n.cpuModel !== undefined && nubo('CpuModel', {}, n.cpuModel),
      n.diskMode !== undefined && nubo('DiskMode', {}, n.diskMode),
      n.datastore !== undefined && nubo('Datastore', {}, n.datastore),
      n.kernelFileRef !== undefined && nubo('Kernel', { 'ovf:fileRef': n.kernelFileRef }),
      n.initrdFileRef !== undefined && nubo('Initrd', { 'ovf:fileRef': n.initrdFileRef }),
      n.cmdline !== undefined && nubo('Cmdline', {}, n.cmdline),
      // base64: user data may hold bytes XML cannot carry (control characters) or would normalise (CR LF).
      n.userData !== undefined && nubo('UserData', { encoding: 'base64' }, Buffer.from(n.userData, 'utf8').toString('base64')),
      n.requirements !== undefined && nubo('Requirements', {}, n.requirements),
    ],
  };
  const root = ovf('Envelope', {}, [
    ovf('References', {}, env.files.map((f) => ovf('File', { 'ovf:href': f.href, 'ovf:id': f.id, 'ovf:size': f.size }))),
    ovf('DiskSection', {}, [
      ovf('Info', {}, 'Virtual disk information'),
      ...env.disks.map((d) => ovf('Disk', { 'ovf:capacity': d.capacityBytes, 'ovf:capacityAllocationUnits': 'byte', 'ovf:diskId': d.id, 'ovf:fileRef': d.fileRef, 'ovf:format': d.format, 'ovf:populatedSize': d.populatedSize })),
    ]),
    env.networks.length > 0 && ovf('NetworkSection', {}, [
      ovf('Info', {}, 'The logical networks used'),
      ...env.networks.map((name) => ovf('Network', { 'ovf:name': name }, [ovf('Description', {}, `The ${name} network`)])),
    ]),
    ovf('VirtualSystem', { 'ovf:id': s.id }, [
      ovf('Info', {}, 'A virtual machine'),
      ovf('Name', {}, s.name),
      // CIM OsType 36: LINUX, what nubo's guests are; importers only use it for defaults.
      ovf('OperatingSystemSection', { 'ovf:id': 36 }, [ovf('Info', {}, 'The guest operating system'), ovf('Description', {}, 'Linux')]),
      ovf('VirtualHardwareSection', {}, [
        ovf('Info', {}, 'Virtual hardware requirements'),
        ovf('System', {}, [vssd('ElementName', 'Virtual Hardware Family'), vssd('InstanceID', '0'), vssd('VirtualSystemIdentifier', s.name), vssd('VirtualSystemType', 'vmx-07')]),
        ...items,
      ]),
      nuboSection,
    ]),
  ]);
  const doc = new DOMImplementation().createDocument(OVF_NS, 'Envelope', null);
  const top = materialize(doc, root, 0);
  doc.replaceChild(top, doc.documentElement!);
  for (const [prefix, uri] of [['ovf', OVF_NS], ['rasd', RASD_NS], ['vssd', VSSD_NS], ['nubo', NUBO_OVF_NS]] as const) top.setAttributeNS(XMLNS_NS, `xmlns:${prefix}`, uri);
  top.setAttributeNS(XMLNS_NS, 'xmlns', OVF_NS);
  return `<?xml version="1.0" encoding="UTF-8"?>\n${new XMLSerializer().serializeToString(doc)}\n`;
}

/** DOM elements for `node`, indented two spaces a level so the descriptor reads well. */
function materialize(doc: Document, node: Node, depth: number): Element {
  const e = doc.createElementNS(node.ns, node.name);
  for (const [k, v] of Object.entries(node.attrs ?? {})) {
    if (v === undefined) continue;
    if (k.startsWith('ovf:')) e.setAttributeNS(OVF_NS, k, String(v));
    else e.setAttribute(k, String(v));
  }
  if (typeof node.content === 'string') {
    e.appendChild(doc.createTextNode(node.content));
  } else if (node.content) {
    const kids = node.content.filter((c): c is Node => c !== false && c !== undefined);
    for (const c of kids) {
      e.appendChild(doc.createTextNode(`\n${'  '.repeat(depth + 1)}`));
      e.appendChild(materialize(doc, c, depth + 1));
    }
    if (kids.length > 0) e.appendChild(doc.createTextNode(`\n${'  '.repeat(depth)}`));
  }
  return e;
}
