import { sql, type Kysely } from 'kysely';

/**
 * Cross-cloud cold migration (issue 18): `cloud_migrations` is the journal
 * of a VM's move to a remote cloud (`out`) or back (`back`), one row per VM,
 * written before each step's side effect so that a controller that restarts
 * finishes or rolls back what was under way. `generation` grows with every
 * migration of the VM and is part of every idempotency token and remote name
 * the migration uses (RunInstances' ClientToken, the AMI's name, ExportImage's
 * ClientToken): a retry after a crash finds what the first try made, a later
 * migration of the same VM never does. The row stays after the end (`done`,
 * `failed`) to keep the generation and to show what happened last.
 *
 * `ec2_export_image_tasks` are the EC2 adaptor's ExportImage tasks (nubo as
 * the remote cloud): an image's disk written as an object into a bucket the
 * caller owns; a task left `active` by a crash is run again when it is next read.
 */
export async function up(db: Kysely<unknown>): Promise<void> {
  await db.schema.createTable('cloud_migrations')
    .addColumn('vm_id', 'text', (c) => c.primaryKey())
    .addColumn('direction', 'text', (c) => c.notNull().check(sql`direction in ('out', 'back')`))
    .addColumn('cloud_id', 'text', (c) => c.notNull())
    .addColumn('generation', 'integer', (c) => c.notNull())
    /** The step to do next (`done`, `failed` at the end). */
    .addColumn('step', 'text', (c) => c.notNull())
    /** 1: the VM is started where it arrives; 0: it arrives powered off. */
    .addColumn('start', 'integer', (c) => c.notNull())
    /** JSON object: what the steps learnt (digests, object key, AMI, instance, local image). */
    .addColumn('data', 'text', (c) => c.notNull())
    .addColumn('error', 'text')
    .addColumn('created_at', 'text', (c) => c.notNull())
    .addColumn('updated_at', 'text', (c) => c.notNull())
    .execute();
  await db.schema.createTable('ec2_export_image_tasks')
    .addColumn('id', 'text', (c) => c.primaryKey())
    .addColumn('owner_id', 'text', (c) => c.notNull())
    .addColumn('client_token', 'text')
    .addColumn('image_id', 'text', (c) => c.notNull())
    .addColumn('format', 'text', (c) => c.notNull())
    .addColumn('bucket', 'text', (c) => c.notNull())
    .addColumn('prefix', 'text', (c) => c.notNull())
    .addColumn('status', 'text', (c) => c.notNull())
    .addColumn('status_message', 'text')
    .addColumn('progress', 'integer', (c) => c.notNull())
    .addColumn('description', 'text')
    .addColumn('created_at', 'text', (c) => c.notNull())
    .addUniqueConstraint('ec2_export_image_tasks_token_unique', ['owner_id', 'client_token'])
    .execute();
}

export async function down(db: Kysely<unknown>): Promise<void> {
  await db.schema.dropTable('ec2_export_image_tasks').execute();
  await db.schema.dropTable('cloud_migrations').execute();
}
