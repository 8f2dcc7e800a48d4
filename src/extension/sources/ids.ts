/** Ids of the Sources view, its item kinds (contextValue, used in package.json menus) and its commands. */
export const VIEW_ID = 'mnemo.sources';
/** Read-only documents of extracted text and chunks. */
export const SOURCE_SCHEME = 'mnemo-source';

export const CONTEXT_VALUES = {
  source: 'source',
  sourceError: 'source-error',
  sourceUnsupported: 'source-unsupported',
  chunk: 'chunk',
} as const;

export const COMMANDS = {
  addSource: 'mnemo.addSource',
  refreshSources: 'mnemo.refreshSources',
  openExtractedText: 'mnemo.openExtractedText',
  openChunk: 'mnemo.openChunk',
  reextractSource: 'mnemo.reextractSource',
  removeSource: 'mnemo.removeSource',
} as const;
