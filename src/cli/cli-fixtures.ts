import { hostView, type HostView } from '../contract/host-schemas.js';
import { imageView, type ImageView } from '../contract/image-schemas.js';
import { templateView, type TemplateView } from '../contract/template-schemas.js';
import { vmDetailView, vmView, type VmDetailView, type VmView } from '../contract/vm-schemas.js';

/** Canned API answers for the CLI suites, checked against the API schemas so that they stay true to the contract. */

const at = '2024-05-01T12:00:00.000Z';

export function host(over: Partial<HostView> = {}): HostView {
  return hostView.parse({
    id: 'host-1', name: 'h1', state: 'enabled', stateReason: null, agentUrl: 'http://198.18.0.2:7101', cpuModel: 'qemu64',
    total: { cpus: 8, memoryMiB: 16384, diskMiB: 100000 }, reserved: { cpus: 2, memoryMiB: 512, diskMiB: 2048 },
    usage: null, lastHeartbeatAt: new Date(Date.now() - 3000).toISOString(), vms: 2, cpuOvercommit: null, ...over,
  });
}

export function image(over: Partial<ImageView> = {}): ImageView {
  return imageView.parse({ id: 'img-1', name: 'tiny', owner: 'admin', format: 'qcow2', sizeBytes: 3 * 1024 * 1024, virtualSizeBytes: 64 * 1024 * 1024, sha256: 'ab'.repeat(32), createdAt: at, ...over });
}

export function template(over: Partial<TemplateView> = {}): TemplateView {
  return templateView.parse({ id: 'tpl-1', name: 'small', owner: 'admin', image: 'tiny', vcpus: 1, memoryMiB: 128, diskMode: 'overlay', datastore: 'local', cpuModel: 'qemu64', nics: [{}], createdAt: at, ...over });
}

export function vm(over: Partial<VmView> = {}): VmView {
  return vmView.parse({
    id: 'vm-1', name: 'web-1', owner: 'admin', template: 'tpl-1', state: 'running', stateReason: null, host: 'h1', vcpus: 1, memoryMiB: 128,
    allowedActions: ['poweroff', 'reboot', 'suspend', 'terminate'], createdAt: at, updatedAt: at, ...over,
  });
}

export function vmDetail(over: Partial<VmDetailView> = {}): VmDetailView {
  return vmDetailView.parse({
    ...vm(),
    nics: [],
    history: [
      { from: null, to: 'pending', action: 'create', reason: null, at },
      { from: 'pending', to: 'prolog', action: 'create', reason: null, at },
      { from: 'prolog', to: 'boot', action: 'create', reason: null, at },
      { from: 'boot', to: 'running', action: 'create', reason: null, at },
    ],
    ...over,
  });
}
