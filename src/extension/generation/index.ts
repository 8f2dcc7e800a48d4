import type { Feature } from '../commands';

export const generationFeature: Feature = {
  name: 'generation',
  commands: [],
};
