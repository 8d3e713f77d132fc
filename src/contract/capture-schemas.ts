import { z } from 'zod';
import { resourceNameSchema } from './api-schemas.js';
import { imageView } from './image-schemas.js';
import { templateView } from './template-schemas.js';

/**
 * The native API's shapes for images made from VMs (`/api/v1/vms/{id}/save-as`,
 * `…/clone`). Shared by the routes and the typed client.
 */

export const saveAsBody = z.strictObject({
  /** The name of the new image (the VM's disk as it is now), unique among the VM owner's images. */
  image: resourceNameSchema,
  /** Also a template of this name with the VM's settings on the new image. */
  template: resourceNameSchema.optional(),
});
export type SaveAsBody = z.input<typeof saveAsBody>;

export const saveAsView = z.object({ image: imageView, template: templateView.optional() });
export type SaveAsView = z.infer<typeof saveAsView>;

export const cloneBody = z.strictObject({
  /** The new VM's name (unique among your live VMs); its disk becomes the image `<name>-disk`. */
  name: resourceNameSchema,
});
export type CloneBody = z.input<typeof cloneBody>;
