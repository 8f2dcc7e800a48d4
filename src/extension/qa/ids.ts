/** Ids of the Q&A view, its item kinds (contextValue, used in package.json menus), context keys and commands. */
export const VIEW_ID = 'mnemo.qa';

export const CONTEXT_VALUES = {
  group: 'group',
  file: 'file',
  pair: 'pair',
  pairReviewed: 'pair-reviewed',
  pairRejected: 'pair-rejected',
} as const;

/** Context key holding the active filter of the Q&A view: 'all', 'problems', 'filtered' or 'unreviewed'. */
export const FILTER_CONTEXT_KEY = 'mnemo.qaFilter';

/** 'filtered': pairs the generation filters flag (they echo the prompt's example, say nothing, or are not grounded in their chunk). */
export type QaFilter = 'all' | 'problems' | 'filtered' | 'unreviewed';

export const COMMANDS = {
  refresh: 'mnemo.refreshQa',
  editQuestion: 'mnemo.qa.editQuestion',
  editAnswer: 'mnemo.qa.editAnswer',
  deletePair: 'mnemo.qa.deletePair',
  rejectPair: 'mnemo.qa.rejectPair',
  markReviewed: 'mnemo.qa.markReviewed',
  filterProblems: 'mnemo.qa.filterProblems',
  filterUnreviewed: 'mnemo.qa.filterUnreviewed',
  filterFiltered: 'mnemo.qa.filterFiltered',
  clearFilter: 'mnemo.qa.clearFilter',
  showCoverage: 'mnemo.qa.showCoverage',
  regenerateChunk: 'mnemo.qa.regenerateChunk',
  openSourceChunk: 'mnemo.qa.openSourceChunk',
} as const;
