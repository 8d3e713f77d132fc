import type { IsoTime } from './schema.js';

/* The remote clouds' rows (migration 0029), apart from schema.ts as the other features' rows are. */

/** A remote EC2 cloud VMs may burst to; the secret sealed (AES-256-GCM), as access keys' are. */
export interface CloudsTable {
  id: string;
  name: string;
  kind: 'ec2';
  endpoint: string;
  region: string;
  access_key_id: string;
  secret_sealed: string;
  /** JSON object: nubo size `<vcpus>x<memoryMiB>` → instance type. */
  instance_types: string;
  /** JSON object: nubo image name or id → AMI id. */
  images: string;
  capacity_vms: number;
  price_per_hour: number;
  burst: 'never' | 'when-full';
  /** Where images are uploaded on demand (S3 endpoint and bucket of the remote); null: only mapped images. */
  s3_endpoint: string | null;
  image_bucket: string | null;
  created_at: IsoTime;
}

/** A VM bound to a cloud (as `vms.host_id` binds one to a host); `instance_id` null until the remote named it. */
export interface CloudVmsTable {
  vm_id: string;
  cloud_id: string;
  instance_type: string;
  image_id: string;
  instance_id: string | null;
  /** What the remote last said of the instance (pending, running, stopped …); null before the first answer. */
  remote_state: string | null;
  created_at: IsoTime;
  updated_at: IsoTime;
}

/** A VM's cross-cloud cold migration, the journal of its steps (migration 0032). */
export interface CloudMigrationsTable {
  vm_id: string;
  direction: 'out' | 'back';
  cloud_id: string;
  generation: number;
  step: string;
  start: number;
  /** JSON object of what the steps learnt. */
  data: string;
  error: string | null;
  created_at: IsoTime;
  updated_at: IsoTime;
}
