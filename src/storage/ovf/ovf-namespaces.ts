/** The XML namespaces of OVF 1.x (DSP0243) and the CIM schemas its hardware items use. */
export const OVF_NS = 'http://schemas.dmtf.org/ovf/envelope/1';
export const OVF2_NS = 'http://schemas.dmtf.org/ovf/envelope/2';
/** OVF 0.9, as VMware wrote it before the DMTF standard. */
export const OVF09_NS = 'http://www.vmware.com/schema/ovf/1/envelope';
export const RASD_NS = 'http://schemas.dmtf.org/wbem/wscim/1/cim-schema/2/CIM_ResourceAllocationSettingData';
export const VSSD_NS = 'http://schemas.dmtf.org/wbem/wscim/1/cim-schema/2/CIM_VirtualSystemSettingData';
export const XMLNS_NS = 'http://www.w3.org/2000/xmlns/';
/** nubo's extension section: template settings OVF has no place for. */
export const NUBO_OVF_NS = 'urn:nubo:ovf:template:1';

/** ovf:format URIs of disk files. */
export const VMDK_STREAM_OPTIMIZED = 'http://www.vmware.com/interfaces/specifications/vmdk.html#streamOptimized';

/** CIM ResourceType values of rasd:ResourceType. */
export const RESOURCE_TYPE = { cpu: 3, memory: 4, ideController: 5, nic: 10, disk: 17 } as const;
