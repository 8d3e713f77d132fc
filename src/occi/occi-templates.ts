import type { TemplateView } from '../contract/template-schemas.js';
import { COMPUTE, identifierOf, NUBO_OS_TPL, NUBO_RESOURCE_TPL, OS_TPL, RESOURCE_TPL, type Mixin } from './occi-model.js';

/**
 * nubo's templates and sizes as OCCI template mixins (GFD.224 §3.6): each
 * template the caller may use is an os_tpl (what the VM boots), each size a
 * resource_tpl (vCPUs and memory). A compute is created from one os_tpl and at
 * most one resource_tpl; its own cores/memory attributes win over both.
 */

const TERM = /^[a-z0-9][a-z0-9_-]*$/;

/** A template's term: its name when that is a valid OCCI term, else its id (names may hold upper case and dots). */
export const osTplTerm = (t: Pick<TemplateView, 'id' | 'name'>): string => (TERM.test(t.name) ? t.name : t.id);

export function osTplMixin(t: Pick<TemplateView, 'id' | 'name' | 'vcpus' | 'memoryMiB'>): Mixin {
  const term = osTplTerm(t);
  return {
    class: 'mixin', term, scheme: NUBO_OS_TPL, title: `template ${t.name} (${t.vcpus} vCPU, ${t.memoryMiB} MiB)`,
    depends: [identifierOf(OS_TPL)], applies: [identifierOf(COMPUTE)], location: `/mixin/os_tpl/${term}/`, actions: [], attributes: [],
  };
}

export interface ResourceSize {
  readonly term: string;
  readonly vcpus: number;
  readonly memoryMiB: number;
}

/** The sizes offered as resource_tpl mixins (test VMs here are 128-256 MiB). */
export const RESOURCE_SIZES: readonly ResourceSize[] = [
  { term: 'tiny', vcpus: 1, memoryMiB: 128 },
  { term: 'small', vcpus: 1, memoryMiB: 256 },
  { term: 'medium', vcpus: 2, memoryMiB: 1024 },
  { term: 'large', vcpus: 4, memoryMiB: 4096 },
];

export function resourceTplMixin(s: ResourceSize): Mixin {
  return {
    class: 'mixin', term: s.term, scheme: NUBO_RESOURCE_TPL, title: `${s.vcpus} vCPU, ${s.memoryMiB} MiB`,
    depends: [identifierOf(RESOURCE_TPL)], applies: [identifierOf(COMPUTE)], location: `/mixin/resource_tpl/${s.term}/`, actions: [], attributes: [],
  };
}

/** The size a VM of these dimensions matches, if any. */
export const sizeOf = (vcpus: number, memoryMiB: number): ResourceSize | undefined => RESOURCE_SIZES.find((s) => s.vcpus === vcpus && s.memoryMiB === memoryMiB);
