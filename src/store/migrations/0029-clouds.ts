import { sql, type Kysely } from 'kysely';

/**
 * Remote clouds for bursting (issue 18): an EC2 endpoint registered like a
 * host, with its credentials (the secret sealed by the controller's
 * access-key cipher, never in clear), its maps of nubo sizes to instance
 * types and of nubo images to AMIs, a limit on the VMs placed there and a
 * price. `cloud_vms` binds a VM to a cloud the way `vms.host_id` binds it to
 * a host: written before RunInstances (whose ClientToken is the VM id), the
 * instance id recorded once the remote named it — so a controller that
 * restarts in between launches again with the same token and gets the same
 * instance back, never a second one.
 */
export async function up(db: Kysely<unknown>): Promise<void> {
  await db.schema.createTable('clouds')
    .addColumn('id', 'text', (c) => c.primaryKey())
    .addColumn('name', 'text', (c) => c.notNull().unique())
    .addColumn('kind', 'text', (c) => c.notNull().check(sql`kind in ('ec2')`))
    .addColumn('endpoint', 'text', (c) => c.notNull())
    .addColumn('region', 'text', (c) => c.notNull())
    .addColumn('access_key_id', 'text', (c) => c.notNull())
    .addColumn('secret_sealed', 'text', (c) => c.notNull())
    /** JSON object: nubo size (`<vcpus>x<memoryMiB>`) → instance type. */
    .addColumn('instance_types', 'text', (c) => c.notNull())
    /** JSON object: nubo image (name or id) → AMI id. */
    .addColumn('images', 'text', (c) => c.notNull())
    .addColumn('capacity_vms', 'integer', (c) => c.notNull())
    /** Price per VM-hour, in the showback's currency. */
    .addColumn('price_per_hour', 'double precision', (c) => c.notNull())
    .addColumn('burst', 'text', (c) => c.notNull().check(sql`burst in ('never', 'when-full')`))
    /** The remote's S3 endpoint and bucket for images made available on demand (uploaded, registered, cached in `images`); null: mapped images only. */
    .addColumn('s3_endpoint', 'text')
    .addColumn('image_bucket', 'text')
    .addColumn('created_at', 'text', (c) => c.notNull())
    .execute();
  await db.schema.createTable('cloud_vms')
    .addColumn('vm_id', 'text', (c) => c.primaryKey())
    .addColumn('cloud_id', 'text', (c) => c.notNull().references('clouds.id'))
    .addColumn('instance_type', 'text', (c) => c.notNull())
    .addColumn('image_id', 'text', (c) => c.notNull())
    .addColumn('instance_id', 'text')
    .addColumn('remote_state', 'text')
    .addColumn('created_at', 'text', (c) => c.notNull())
    .addColumn('updated_at', 'text', (c) => c.notNull())
    .execute();
  await db.schema.createIndex('cloud_vms_cloud_idx').on('cloud_vms').column('cloud_id').execute();
}

export async function down(db: Kysely<unknown>): Promise<void> {
  await db.schema.dropTable('cloud_vms').execute();
  await db.schema.dropTable('clouds').execute();
}
