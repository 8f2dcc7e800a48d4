import type { Feature } from '../commands';

export const datasetFeature: Feature = {
  name: 'dataset',
  commands: [],
};
