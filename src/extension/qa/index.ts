import type { Feature } from '../commands';

export const qaFeature: Feature = {
  name: 'qa',
  commands: [],
};
