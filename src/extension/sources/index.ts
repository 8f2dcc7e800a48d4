import type { Feature } from '../commands';

export const sourcesFeature: Feature = {
  name: 'sources',
  commands: [],
};
