import { invalidParameterValue } from './ec2-api-error.js';
import type { Ec2Call } from './ec2-context.js';
import type { Ec2Tag } from './ec2-params.js';
import { checkTags } from './ec2-tags.js';

/** `TagSpecification.N` for `resourceType`: its tags, checked; a specification for another type is refused, naming it. */
export function tagsFor(call: Ec2Call, resourceType: string): Ec2Tag[] {
  const specs = call.params.tagSpecifications();
  for (const [i, s] of specs.entries()) {
    if (s.resourceType !== resourceType) throw invalidParameterValue(`TagSpecification.${i + 1}.ResourceType`, `${JSON.stringify(s.resourceType)} cannot be tagged here; only ${resourceType}`);
  }
  const tags = specs.flatMap((s) => s.tags);
  checkTags(tags, (i) => `TagSpecification.1.Tag.${i + 1}`);
  return tags;
}
