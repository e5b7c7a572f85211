/** JSON Schema of `podsec-inotify-check-images --json`: the shape of the policy plugins. */
import { pluginSchema } from './podsec-inotify-check-policy.schema.ts';

export default pluginSchema(
  'podsec-inotify-check-images',
  '100 an image list or policy that cannot be read (weight 200), 101 registries accepting unsigned ' +
    'images, 102 unsigned images, 103 images outside of supported policies',
);
