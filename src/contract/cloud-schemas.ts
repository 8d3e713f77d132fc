import { z } from 'zod';
import { resourceNameSchema } from './api-schemas.js';

/** The native API's shapes for remote clouds (`/api/v1/clouds`): EC2 endpoints VMs burst to (admin only). */

/** A nubo size as a cloud's size map names it. */
export const CLOUD_SIZE_KEY = /^[1-9][0-9]{0,2}x[1-9][0-9]{0,7}$/;

export const createCloudBody = z.strictObject({
  name: resourceNameSchema
    .refine((n) => n !== 'any', 'any is reserved: a template\'s burst: any means every cloud')
    .refine((n) => n !== 'local', 'local is reserved: vm migrate --cloud local brings a VM home').describe('what VMs ask for in their requirements (cloud == "NAME") and templates in their burst flag'),
  kind: z.literal('ec2').default('ec2').describe('the remote\'s API; EC2 (Query API, SigV4) is the one spoken'),
  endpoint: z.url({ protocol: /^https?$/, error: 'an http:// or https:// URL' }).max(2048).describe('the EC2 endpoint, e.g. https://ec2.eu-west-1.amazonaws.com or another nubo\'s --ec2-listen'),
  region: z.string().regex(/^[a-z0-9][a-z0-9-]{0,62}$/, 'lower-case letters, digits and -').describe('the region requests are signed for'),
  accessKeyId: z.string().regex(/^[A-Z0-9]{16,128}$/, 'an access key id: 16-128 upper-case letters and digits'),
  secretAccessKey: z.string().min(16).max(256).regex(/^[\x21-\x7e]+$/, 'printable ASCII without spaces').describe('stored sealed (AES-256-GCM, the access keys\' key file); never shown again'),
  instanceTypes: z.record(z.string().regex(CLOUD_SIZE_KEY, 'a nubo size: <vcpus>x<memoryMiB>, e.g. 1x128'), z.string().regex(/^[a-z0-9]+(\.[a-z0-9]+)+$/, 'an instance type, e.g. t3.micro'))
    .refine((m) => Object.keys(m).length > 0 && Object.keys(m).length <= 256, 'between 1 and 256 sizes').describe('nubo size <vcpus>x<memoryMiB> → instance type'),
  images: z.record(z.string().min(1).max(128), z.string().regex(/^ami-[0-9a-f]{8,17}$/, 'an AMI id: ami- and 8-17 hex digits'))
    .refine((m) => Object.keys(m).length > 0 && Object.keys(m).length <= 256, 'between 1 and 256 images').describe('nubo image (name or id) → AMI id'),
  capacity: z.number().int().min(1).max(100_000).describe('at most this many VMs on the cloud at once'),
  pricePerHour: z.number().nonnegative().max(1_000_000).default(0).describe('price of a VM-hour there (what a burst costs; shown, not charged)'),
  burst: z.enum(['never', 'when-full']).default('when-full').describe('when-full: VMs no local host takes go there (when the controller\'s --burst-policy allows); never: only VMs that ask for it — their requirements (cloud == "NAME") or their template\'s burst flag (NAME or any)'),
  s3Endpoint: z.url({ protocol: /^https?$/, error: 'an http:// or https:// URL' }).max(2048).optional()
    .describe('the remote\'s S3 endpoint: images with no AMI in `images` are uploaded there (multipart), registered (RegisterImage) and cached in `images`; needs imageBucket'),
  imageBucket: z.string().regex(/^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$/, 'an S3 bucket name: 3-63 lower-case letters, digits, . and -').optional().describe('the bucket images are uploaded to (made if missing)'),
}).refine((b) => (b.s3Endpoint === undefined) === (b.imageBucket === undefined), { message: 's3Endpoint and imageBucket go together', path: ['imageBucket'] });
export type CreateCloudBody = z.input<typeof createCloudBody>;

export const cloudInstanceView = z.object({ vm: z.string(), vmName: z.string().nullable(), instanceId: z.string().nullable(), instanceType: z.string(), imageId: z.string(), remoteState: z.string().nullable() });

export const cloudView = z.object({
  id: z.string(),
  name: z.string(),
  kind: z.literal('ec2'),
  endpoint: z.string(),
  region: z.string(),
  accessKeyId: z.string(),
  instanceTypes: z.record(z.string(), z.string()),
  images: z.record(z.string(), z.string()),
  capacity: z.number(),
  pricePerHour: z.number(),
  burst: z.enum(['never', 'when-full']),
  s3Endpoint: z.string().nullable(),
  imageBucket: z.string().nullable(),
  /** VMs bound to it now. */
  vms: z.number(),
  /** The poller's last word on its endpoint: null before the first check. */
  reachable: z.boolean().nullable(),
  checkedAt: z.string().nullable(),
  error: z.string().nullable(),
  createdAt: z.string(),
});
export type CloudView = z.infer<typeof cloudView>;
export const cloudDetailView = cloudView.extend({ instances: z.array(cloudInstanceView) });
export type CloudDetailView = z.infer<typeof cloudDetailView>;
